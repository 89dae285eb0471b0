// Package templates renders Farewell's emails (Korean copy) from embedded
// HTML and plain-text templates. The HTML is rendered with html/template, so
// every value is escaped.
package templates

import (
	"bytes"
	"embed"
	"fmt"
	htmltemplate "html/template"
	texttemplate "text/template"
	"time"
)

//go:embed files/*.tmpl
var files embed.FS

// Subjects of the emails.
const (
	SubjectCode   = "[터닝] 이메일 인증 코드"
	SubjectWinner = "[터닝] 축하합니다! 터닝의 마지막 선물에 당첨되셨습니다"
	SubjectLoser  = "[터닝] 터닝의 마지막 선물 이벤트 결과 안내"
)

// kst is Korea Standard Time; a fixed zone needs no tz database.
var kst = time.FixedZone("KST", 9*60*60)

// Rendered is a ready-to-send email body.
type Rendered struct {
	Subject string
	Text    string
	HTML    string
}

type pair struct {
	text *texttemplate.Template
	html *htmltemplate.Template
}

// Renderer renders the emails. It is safe for concurrent use.
type Renderer struct {
	code, winner, loser pair
}

// New parses every template once.
func New() (*Renderer, error) {
	r := &Renderer{}
	for _, p := range []struct {
		dst  *pair
		name string
	}{{&r.code, "code"}, {&r.winner, "winner"}, {&r.loser, "loser"}} {
		text, err := texttemplate.ParseFS(files, "files/"+p.name+".txt.tmpl")
		if err != nil {
			return nil, fmt.Errorf("parse %s text template: %w", p.name, err)
		}
		html, err := htmltemplate.ParseFS(files, "files/"+p.name+".html.tmpl")
		if err != nil {
			return nil, fmt.Errorf("parse %s html template: %w", p.name, err)
		}
		*p.dst = pair{text: text.Option("missingkey=error"), html: html.Option("missingkey=error")}
	}
	return r, nil
}

// Code renders the verification-code email. now is used to say how many
// minutes the code is still valid.
func (r *Renderer) Code(code string, expiresAt, now time.Time) (Rendered, error) {
	minutes := int(expiresAt.Sub(now).Round(time.Minute) / time.Minute)
	data := map[string]any{
		"Code":         code,
		"ExpiresAt":    expiresAt.In(kst).Format("2006년 1월 2일 15시 04분 (KST)"),
		"ValidMinutes": max(minutes, 1),
	}
	return render(r.code, SubjectCode, data)
}

// Winner renders the winner's confirmation with their rank.
func (r *Renderer) Winner(rank int64) (Rendered, error) {
	return render(r.winner, SubjectWinner, map[string]any{"Rank": rank})
}

// Loser renders the "no gift left" notice.
func (r *Renderer) Loser() (Rendered, error) {
	return render(r.loser, SubjectLoser, map[string]any{})
}

func render(p pair, subject string, data any) (Rendered, error) {
	var text, html bytes.Buffer
	if err := p.text.Execute(&text, data); err != nil {
		return Rendered{}, fmt.Errorf("render %q text: %w", subject, err)
	}
	if err := p.html.Execute(&html, data); err != nil {
		return Rendered{}, fmt.Errorf("render %q html: %w", subject, err)
	}
	return Rendered{Subject: subject, Text: text.String(), HTML: html.String()}, nil
}
