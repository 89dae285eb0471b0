// Farewell admin console: live figures, stock and window, a chart of
// applications and decisions per second, and the winners export. The admin
// key is kept in sessionStorage (this tab only) and sent as X-ADMIN-KEY.
(function () {
  'use strict';

  var KEY = 'farewell.adminKey';
  var REFRESH_MS = 1000;
  var HISTORY = 60;
  var history = []; // {t, applications, decisions} per refresh
  var refreshTimer = null;

  function $(id) { return document.getElementById(id); }
  function adminKey() { return sessionStorage.getItem(KEY) || ''; }

  function call(method, path, body) {
    var headers = { 'Accept': 'application/json', 'X-ADMIN-KEY': adminKey() };
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    var opts = { method: method, headers: headers, cache: 'no-store' };
    if (body !== undefined) opts.body = JSON.stringify(body);
    return fetch(path, opts).then(function (res) {
      var retry = parseInt(res.headers.get('Retry-After') || '', 10);
      return res.json().catch(function () { return {}; }).then(function (env) {
        return { status: res.status, ok: res.ok, code: env.code || '', message: env.message || ('HTTP ' + res.status),
                 result: env.result || {}, retryAfter: isFinite(retry) ? retry : 0 };
      });
    }, function () {
      return { status: 0, ok: false, code: 'NETWORK', message: '서버에 연결할 수 없습니다.', result: {}, retryAfter: 0 };
    });
  }

  function serverError(r) {
    var text = r.message + (r.code ? ' [' + r.code + ']' : '');
    if (r.retryAfter) text += ' — ' + r.retryAfter + '초 후 다시 시도하세요.';
    return text;
  }

  // ---- key

  function showLogin(message) {
    if (refreshTimer) { clearTimeout(refreshTimer); refreshTimer = null; }
    $('console').hidden = true;
    $('login').hidden = false;
    $('key-error').textContent = message || '';
    $('admin-key').focus();
  }

  function showConsole() {
    $('login').hidden = true;
    $('console').hidden = false;
    $('fig-title').focus();
    refresh();
  }

  $('key-form').addEventListener('submit', function (ev) {
    ev.preventDefault();
    var k = $('admin-key').value.trim();
    if (!k) { $('key-error').textContent = '관리자 키를 입력하세요.'; return; }
    sessionStorage.setItem(KEY, k);
    $('admin-key').value = '';
    showConsole();
  });

  $('logout').addEventListener('click', function () { sessionStorage.removeItem(KEY); showLogin('키를 지웠습니다.'); });

  // ---- figures and chart

  function fmt(n) { return typeof n === 'number' ? n.toLocaleString('ko-KR') : '–'; }
  function when(s) { return s ? new Date(s).toLocaleString('ko-KR') : '제한 없음'; }

  function render(st) {
    $('f-total').textContent = fmt(st.total);
    $('f-remaining').textContent = fmt(st.remaining);
    $('f-winners').textContent = fmt(st.winners);
    $('f-losers').textContent = fmt(st.losers);
    $('f-pending').textContent = fmt(st.pending);
    $('f-soldout').textContent = st.soldOut ? '마감' : '진행 중';
    var w = st.window || {};
    $('f-window').textContent = when(w.opensAt) + ' ~ ' + when(w.closesAt);
    $('updated').textContent = '마지막 갱신: ' + new Date().toLocaleTimeString('ko-KR');
  }

  function record(st) {
    var decisions = (st.winners || 0) + (st.losers || 0);
    history.push({ t: Date.now(), applications: decisions + (st.pending || 0), decisions: decisions });
    if (history.length > HISTORY + 1) history.shift();
  }

  // rates turns the cumulative counts into per-second rates between refreshes.
  function rates() {
    var out = [];
    for (var i = 1; i < history.length; i++) {
      var dt = Math.max((history[i].t - history[i - 1].t) / 1000, 0.001);
      out.push({
        applications: Math.max(0, history[i].applications - history[i - 1].applications) / dt,
        decisions: Math.max(0, history[i].decisions - history[i - 1].decisions) / dt
      });
    }
    return out;
  }

  function draw() {
    var c = $('chart'), g = c.getContext('2d');
    var w = c.width, h = c.height, left = 48, bottom = 24, top = 10;
    var data = rates();
    var peak = 1;
    data.forEach(function (d) { peak = Math.max(peak, d.applications, d.decisions); });
    peak = Math.ceil(peak * 1.1);
    g.clearRect(0, 0, w, h);
    g.font = '12px "Noto Sans CJK KR", sans-serif';
    g.fillStyle = '#5f6368';
    g.strokeStyle = '#e3ded6';
    g.lineWidth = 1;
    for (var i = 0; i <= 4; i++) {
      var y = top + (h - top - bottom) * i / 4;
      g.beginPath(); g.moveTo(left, y); g.lineTo(w, y); g.stroke();
      g.fillText(String(Math.round(peak * (4 - i) / 4)), 4, y + 4);
    }
    g.fillText('-60초', left, h - 6);
    g.fillText('지금', w - 30, h - 6);
    function line(key, color) {
      g.strokeStyle = color; g.lineWidth = 2.5; g.beginPath();
      data.forEach(function (d, j) {
        var x = left + (w - left) * (HISTORY - data.length + j) / (HISTORY - 1);
        var y = top + (h - top - bottom) * (1 - d[key] / peak);
        if (j === 0) g.moveTo(x, y); else g.lineTo(x, y);
      });
      g.stroke();
    }
    line('applications', '#d9480f');
    line('decisions', '#1c7ed6');
    var last = data[data.length - 1];
    $('rates').textContent = last ? '지금: 응모 ' + last.applications.toFixed(1) + '/초 · 결정 ' + last.decisions.toFixed(1) + '/초' : '–';
    c.setAttribute('data-peak-applications', String(Math.max.apply(null, data.map(function (d) { return d.applications; }).concat([0]))));
  }

  var stockTouched = false;
  $('stock').addEventListener('input', function () { stockTouched = true; });

  function refresh() {
    refreshTimer = null;
    call('GET', '/api/admin/event').then(function (r) {
      if (r.status === 403) { sessionStorage.removeItem(KEY); showLogin('관리자 키가 올바르지 않습니다. ' + serverError(r)); return; }
      var next = REFRESH_MS;
      if (r.ok) {
        $('figures-error').textContent = '';
        render(r.result);
        record(r.result);
        draw();
        if (!stockTouched && $('stock').value === '') $('stock').value = r.result.total;
      } else {
        $('figures-error').textContent = '현황을 불러오지 못했습니다: ' + serverError(r);
        if (r.retryAfter) next = r.retryAfter * 1000;
      }
      if (!$('console').hidden) refreshTimer = setTimeout(refresh, next);
    });
  }

  // ---- stock

  $('stock-form').addEventListener('submit', function (ev) {
    ev.preventDefault();
    var raw = $('stock').value.trim(), msg = $('stock-msg');
    msg.className = 'error';
    if (!/^[0-9]+$/.test(raw) || Number(raw) > 10000000) {
      msg.textContent = '재고는 0부터 10,000,000 사이의 정수여야 합니다.';
      $('stock').setAttribute('aria-invalid', 'true');
      $('stock').focus();
      return;
    }
    $('stock').removeAttribute('aria-invalid');
    $('stock-submit').disabled = true;
    call('POST', '/api/admin/event/stock', { count: Number(raw) }).then(function (r) {
      $('stock-submit').disabled = false;
      if (r.ok) {
        stockTouched = false;
        msg.className = 'ok';
        msg.textContent = '저장했습니다: 총 ' + fmt(r.result.stock) + ', 남은 재고 ' + fmt(r.result.remaining);
      } else {
        msg.textContent = '서버가 거절했습니다: ' + serverError(r);
      }
    });
  });

  // ---- window

  function localValue(d) {
    function p(n) { return (n < 10 ? '0' : '') + n; }
    return d.getFullYear() + '-' + p(d.getMonth() + 1) + '-' + p(d.getDate()) + 'T' + p(d.getHours()) + ':' + p(d.getMinutes()) + ':' + p(d.getSeconds());
  }
  function rfc3339(v) { var d = new Date(v); return isNaN(d) ? '' : d.toISOString().replace(/\.\d{3}Z$/, 'Z'); }

  (function defaults() {
    var now = new Date();
    now.setMilliseconds(0);
    $('opens').value = localValue(now);
    $('closes').value = localValue(new Date(now.getTime() + 3600 * 1000));
  })();

  $('window-form').addEventListener('submit', function (ev) {
    ev.preventDefault();
    var opens = rfc3339($('opens').value), closes = rfc3339($('closes').value), msg = $('window-msg');
    msg.className = 'error';
    if (!opens || !closes) { msg.textContent = '시작과 종료 시각을 모두 입력하세요.'; return; }
    if (new Date(opens) >= new Date(closes)) { msg.textContent = '시작은 종료보다 빨라야 합니다.'; $('closes').focus(); return; }
    $('window-submit').disabled = true;
    call('PUT', '/api/admin/event/window', { opensAt: opens, closesAt: closes }).then(function (r) {
      $('window-submit').disabled = false;
      if (r.ok) { msg.className = 'ok'; msg.textContent = '응모 기간을 저장했습니다.'; }
      else msg.textContent = '서버가 거절했습니다: ' + serverError(r);
    });
  });

  // ---- export

  $('export').addEventListener('click', function () {
    var msg = $('export-msg');
    msg.textContent = '내려받는 중…';
    fetch('/api/admin/event/winners', { headers: { 'X-ADMIN-KEY': adminKey() }, cache: 'no-store' }).then(function (res) {
      if (!res.ok) {
        return res.json().catch(function () { return {}; }).then(function (env) {
          msg.textContent = '내보내기 실패: ' + (env.message || ('HTTP ' + res.status));
        });
      }
      return res.blob().then(function (blob) {
        var a = document.createElement('a');
        a.href = URL.createObjectURL(blob);
        a.download = 'winners.csv';
        document.body.appendChild(a);
        a.click();
        a.remove();
        setTimeout(function () { URL.revokeObjectURL(a.href); }, 10000);
        msg.textContent = '받았습니다 (' + blob.size.toLocaleString('ko-KR') + '바이트).';
      });
    }, function () { msg.textContent = '내보내기 실패: 서버에 연결할 수 없습니다.'; });
  });

  if (adminKey()) showConsole(); else showLogin();
})();
