package localstack

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"
)

// Ready checks once whether component c answers: Redis (and Sentinel)
// PING, the MariaDB server greeting, the Kafka port, Mailpit's
// /api/v1/info, nginx's /nginx-health and a service's /readyz. It does not
// look at the pid file.
func Ready(ctx context.Context, c Component) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if c.Service == "" {
		switch c.Comm {
		case "redis-server", "redis-sentinel":
			return redisPing(ctx, c.Addr())
		case "mariadbd":
			return mysqlGreeting(ctx, c.Addr())
		case "java":
			return tcpOpen(ctx, c.Addr())
		case "mailpit":
			return httpOK(ctx, MailpitURL+"/api/v1/info")
		case "nginx":
			return httpOK(ctx, NginxURL+"/nginx-health")
		}
	}
	if c.Service != "" {
		return httpOK(ctx, "http://"+c.Addr()+"/readyz")
	}
	return fmt.Errorf("%s: no readiness check", c.Name)
}

// PortOpen reports whether something accepts TCP connections on the
// loopback port.
func PortOpen(port int) bool {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	return tcpOpen(ctx, hostPort(port)) == nil
}

func dial(ctx context.Context, addr string) (net.Conn, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	if deadline, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(deadline)
	}
	return conn, nil
}

func tcpOpen(ctx context.Context, addr string) error {
	conn, err := dial(ctx, addr)
	if err != nil {
		return err
	}
	return conn.Close()
}

// redisPing sends PING in the Redis protocol and expects +PONG.
func redisPing(ctx context.Context, addr string) error {
	conn, err := dial(ctx, addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, "*1\r\n$4\r\nPING\r\n"); err != nil {
		return err
	}
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		return fmt.Errorf("redis PING: %w", err)
	}
	if strings.TrimSpace(line) != "+PONG" {
		return fmt.Errorf("redis PING answered %q", strings.TrimSpace(line))
	}
	return nil
}

// mysqlGreeting reads the first packet the server sends on a new
// connection, which MariaDB does only once it accepts connections: the
// handshake, or an error packet (e.g. "host not allowed" before the
// farewell account exists, or too many connections) — either way the server
// answers. It needs no account.
func mysqlGreeting(ctx context.Context, addr string) error {
	conn, err := dial(ctx, addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	// 3-byte length, 1-byte sequence, then the payload: protocol version 10
	// for a handshake, 0xff for an error packet.
	var head [5]byte
	if _, err := io.ReadFull(conn, head[:]); err != nil {
		return fmt.Errorf("mariadb greeting: %w", err)
	}
	if head[4] != 10 && head[4] != 0xff {
		return fmt.Errorf("mariadb greeting: not the MySQL protocol (first byte 0x%02x)", head[4])
	}
	return nil
}

func httpOK(ctx context.Context, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	// No keep-alive: a check leaves no idle connection behind.
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s answered %d", url, resp.StatusCode)
	}
	return nil
}
