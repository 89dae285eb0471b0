// Farewell participant page: email → code → verify → apply → live result.
// Plain browser JavaScript, same origin as the API, no build step. The token
// lives only in this page's memory.
(function () {
  'use strict';

  // auth's resend cooldown (FAREWELL_CODE_RESEND_COOLDOWN); a 429 with
  // Retry-After overrides it with what the server enforces.
  var RESEND_COOLDOWN_S = 60;
  var POLL_MS = 1000;
  var EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

  var state = { email: '', token: '', timers: {} };

  function $(id) { return document.getElementById(id); }

  function say(text) { $('live').textContent = text; }

  // show makes one screen visible and moves the focus to its heading, so
  // keyboard and screen-reader users land on what changed.
  function show(id) {
    var screens = document.querySelectorAll('[data-screen]');
    for (var i = 0; i < screens.length; i++) screens[i].hidden = screens[i].id !== id;
    var h = $(id).querySelector('h2');
    if (h) { h.focus(); say(h.textContent); }
    document.body.setAttribute('data-current', id);
  }

  function stopTimer(name) {
    if (state.timers[name]) { clearInterval(state.timers[name]); clearTimeout(state.timers[name]); delete state.timers[name]; }
  }

  // countdown calls tick(secondsLeft) every second until 0, then done().
  function countdown(name, seconds, tick, done) {
    stopTimer(name);
    var end = Date.now() + seconds * 1000;
    function step() {
      var left = Math.max(0, Math.ceil((end - Date.now()) / 1000));
      tick(left);
      if (left <= 0) { stopTimer(name); if (done) done(); }
    }
    step();
    if (seconds > 0) state.timers[name] = setInterval(step, 250);
  }

  // call sends one API request and never throws: network failures come back
  // as status 0. Retry-After is read as whole seconds.
  function call(method, path, body) {
    var headers = { 'Accept': 'application/json' };
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    if (state.token) headers['Authorization'] = 'Bearer ' + state.token;
    var opts = { method: method, headers: headers, credentials: 'same-origin', cache: 'no-store' };
    if (body !== undefined) opts.body = JSON.stringify(body);
    return fetch(path, opts).then(function (res) {
      var retry = parseInt(res.headers.get('Retry-After') || '', 10);
      return res.json().catch(function () { return {}; }).then(function (env) {
        return { status: res.status, ok: res.ok, code: env.code || '', message: env.message || '',
                 result: env.result || {}, retryAfter: isFinite(retry) && retry > 0 ? retry : 0 };
      });
    }, function () {
      return { status: 0, ok: false, code: 'NETWORK', message: '네트워크에 연결할 수 없어요.', result: {}, retryAfter: 0 };
    });
  }

  function busy(button, on) { button.disabled = on; button.setAttribute('aria-busy', on ? 'true' : 'false'); }

  // waitText is the honest "try again in N s" line.
  function waitText(left) { return left > 0 ? left + '초 후에 다시 시도할 수 있어요.' : '지금 다시 시도할 수 있어요.'; }

  // ---- 1. email

  function startResendCooldown(seconds) {
    var btn = $('resend');
    btn.disabled = true;
    countdown('resend', seconds, function (left) {
      btn.textContent = left > 0 ? '코드 다시 받기 (' + left + '초)' : '코드 다시 받기';
      $('resend-note').textContent = left > 0 ? left + '초 후에 코드를 다시 받을 수 있어요.' : '';
    }, function () { btn.disabled = false; });
  }

  // sendCode asks auth for a code; errorEl shows what went wrong.
  function sendCode(errorEl, button) {
    errorEl.textContent = '';
    busy(button, true);
    return call('POST', '/api/auth/send-verification-code', { email: state.email }).then(function (r) {
      busy(button, false);
      if (r.ok) { startResendCooldown(RESEND_COOLDOWN_S); return true; }
      if (r.status === 429) {
        var wait = r.retryAfter || RESEND_COOLDOWN_S;
        errorEl.textContent = '코드를 너무 자주 요청했어요. ' + wait + '초 후에 다시 받을 수 있어요.';
        startResendCooldown(wait);
        return 'cooldown';
      }
      if (r.status === 400) { errorEl.textContent = '이메일 주소를 확인해 주세요. (' + r.message + ')'; return false; }
      if (r.status >= 500 || r.status === 0) {
        errorEl.textContent = '지금은 코드를 보낼 수 없어요. ' + waitText(r.retryAfter || 5);
        return false;
      }
      errorEl.textContent = r.message || '코드를 보내지 못했어요.';
      return false;
    });
  }

  $('email-form').addEventListener('submit', function (ev) {
    ev.preventDefault();
    var email = $('email').value.trim();
    if (!EMAIL.test(email)) {
      $('email-error').textContent = '올바른 이메일 주소를 입력해 주세요. (예: you@example.com)';
      $('email').setAttribute('aria-invalid', 'true');
      $('email').focus();
      return;
    }
    $('email').removeAttribute('aria-invalid');
    state.email = email;
    sendCode($('email-error'), $('send-code')).then(function (sent) {
      // A code sent a moment ago is still valid: go on to the code entry.
      if (sent) {
        $('code-email').textContent = email;
        show('s-code');
        if (sent === 'cooldown') $('code-error').textContent = $('email-error').textContent;
        $('code').focus();
      }
    });
  });

  // ---- 2. code

  $('resend').addEventListener('click', function () {
    sendCode($('code-error'), $('resend')).then(function (sent) {
      if (sent === true) say('새 인증 코드를 보냈어요.');
    });
  });

  $('change-email').addEventListener('click', function () {
    stopTimer('resend');
    $('code').value = '';
    $('code-error').textContent = '';
    show('s-email');
    $('email').focus();
  });

  $('code-form').addEventListener('submit', function (ev) {
    ev.preventDefault();
    var code = $('code').value.trim();
    if (!/^[0-9]{6}$/.test(code)) {
      $('code-error').textContent = '6자리 숫자를 입력해 주세요.';
      $('code').setAttribute('aria-invalid', 'true');
      $('code').focus();
      return;
    }
    $('code').removeAttribute('aria-invalid');
    $('code-error').textContent = '';
    busy($('verify'), true);
    call('POST', '/api/auth/verify-code', { email: state.email, code: code }).then(function (r) {
      busy($('verify'), false);
      if (r.ok && r.result.temporaryToken) {
        state.token = r.result.temporaryToken;
        stopTimer('resend');
        show('s-apply');
        return;
      }
      if (r.status === 400) $('code-error').textContent = '인증 코드가 올바르지 않거나 만료되었어요.';
      else if (r.status === 429) $('code-error').textContent = (r.code === 'TOO_MANY_ATTEMPTS'
        ? '틀린 횟수가 너무 많아 코드가 폐기되었어요. 새 코드를 받아 주세요. '
        : '요청이 너무 많아요. ') + waitText(r.retryAfter);
      else if (r.status >= 500 || r.status === 0) $('code-error').textContent = '지금은 확인할 수 없어요. ' + waitText(r.retryAfter || 5);
      else $('code-error').textContent = r.message || '확인하지 못했어요.';
      $('code').focus();
    });
  });

  // ---- 3. apply and the result

  // retryScreen shows a "wait N s, then retry" screen whose button comes
  // alive when the wait is over.
  function retryScreen(screen, textId, buttonId, seconds, text) {
    show(screen);
    var btn = $(buttonId);
    btn.disabled = true;
    countdown(screen, seconds, function (left) { $(textId).textContent = text(left); },
      function () { btn.disabled = false; });
  }

  function pad(n) { return (n < 10 ? '0' : '') + n; }

  function apply() {
    $('apply-error').textContent = '';
    busy($('apply'), true);
    call('POST', '/api/event/apply').then(function (r) {
      busy($('apply'), false);
      if (r.status === 202 || r.ok) { showReceipt(r.result.receipt); show('s-pending'); poll(); return; }
      switch (true) {
        case r.code === 'EVENT_CLOSED':
          show('s-soldout'); break;
        case r.code === 'ALREADY_APPLIED':
          show('s-already'); break;
        case r.code === 'EVENT_NOT_OPEN':
          notOpen(r.retryAfter); break;
        case r.status === 401:
          state.token = '';
          $('email-error').textContent = '인증이 만료되었어요. 다시 인증해 주세요.';
          show('s-email'); break;
        case r.status === 429:
          retryScreen('s-toomany', 'toomany-wait', 'toomany-retry', r.retryAfter || 1, waitText); break;
        case r.status === 503 || r.status === 502 || r.status === 504 || r.status === 0:
          retryScreen('s-busy', 'busy-wait', 'busy-retry', r.retryAfter || 5, waitText); break;
        default:
          $('error-text').textContent = (r.message || '알 수 없는 오류') + ' (HTTP ' + r.status + ')';
          show('s-error');
      }
    });
  }

  function notOpen(seconds) {
    show('s-notopen');
    var btn = $('notopen-retry');
    btn.disabled = true;
    if (!seconds) {
      $('notopen-text').textContent = '지금은 응모 기간이 아니에요. 이벤트 일정을 확인해 주세요.';
      $('countdown').textContent = '';
      btn.disabled = false;
      return;
    }
    $('notopen-text').textContent = '이벤트 시작까지 남은 시간:';
    countdown('notopen', seconds, function (left) {
      var h = Math.floor(left / 3600), m = Math.floor(left % 3600 / 60), s = left % 60;
      $('countdown').textContent = pad(h) + ':' + pad(m) + ':' + pad(s);
      $('countdown').setAttribute('aria-label', h + '시간 ' + m + '분 ' + s + '초 남음');
    }, function () {
      $('notopen-text').textContent = '이벤트가 열렸어요! 지금 응모하세요.';
      btn.disabled = false;
      btn.focus();
    });
  }

  // showReceipt shows the signed receipt of the 202 (and a winner's rank)
  // and offers it as a file for the verifier. Answers without one leave
  // the block hidden.
  function showReceipt(receipt, rank) {
    if (!receipt || !receipt.sig) return;
    $('receipt-place').textContent = 'partition ' + receipt.partition + ' · offset ' + receipt.offset + ' (Kafka에 기록된 순서)';
    $('receipt-time').textContent = new Date(receipt.acceptedAt).toLocaleString();
    $('receipt-participant').textContent = receipt.participant;
    $('receipt-kid').textContent = receipt.kid;
    $('receipt-rank-label').hidden = $('receipt-rank').hidden = !rank;
    if (rank) $('receipt-rank').textContent = rank + '위';
    $('receipt-save').href = 'data:application/json;charset=utf-8,' + encodeURIComponent(JSON.stringify(receipt));
    $('receipt').hidden = false;
  }

  // poll asks for the status every second until it is decided, backing off
  // as the server says when it is busy.
  function poll() {
    stopTimer('poll');
    call('GET', '/api/event/status').then(function (r) {
      var next = POLL_MS;
      if (r.ok) {
        var st = r.result.status;
        showReceipt(r.result.receipt, st === 'SUCCESS' ? r.result.rank : 0);
        $('pending-status').textContent = st === 'PENDING' ? 'PENDING (처리 중)' : st;
        if (st === 'SUCCESS') { show('s-success'); return; }
        if (st === 'FAILURE') { show('s-failure'); return; }
      } else if (r.status === 401) {
        $('pending-status').textContent = '인증이 만료되어 결과는 이메일로 안내됩니다.';
        return;
      } else if (r.retryAfter) {
        next = r.retryAfter * 1000;
      }
      state.timers.poll = setTimeout(poll, next);
    });
  }

  $('apply').addEventListener('click', apply);
  $('notopen-retry').addEventListener('click', apply);
  $('toomany-retry').addEventListener('click', apply);
  $('busy-retry').addEventListener('click', apply);
  $('check-status').addEventListener('click', function () { show('s-pending'); poll(); });
  $('error-retry').addEventListener('click', function () { show(state.token ? 's-apply' : 's-email'); });
})();
