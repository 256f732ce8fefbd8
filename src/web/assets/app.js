// sesame web front: one small single-page app, no framework, no build step.
//
// It talks only to the public JSON API under /api/v1, from the same origin, with the session
// cookie (which is HttpOnly: this script never sees it). Every element is built with
// createElement/textContent, never innerHTML, so no text from the server or the address bar is
// ever parsed as markup; and the page's Content-Security-Policy forbids inline script and style.
'use strict';

(() => {
  const API = '/api/v1';
  // A non-secret hint, kept across reloads, that this browser signed in: a 401/403 on load then
  // means "your session has ended" rather than "please sign in".
  const HINT = 'sesame.signedIn';
  // Earlier builds also kept a guess of whether the user had an authenticator app; it is only
  // removed now (GET /users/me/mfa says).
  const OLD_TOTP_HINT = 'sesame.totp';
  const PER_PAGE = 20;
  const SITE = 'sesame';

  const state = {
    me: null, // the signed-in user, or null
    setupToken: null, // the first-run token, in memory only
    renderId: 0, // the current render; async work from older renders is dropped
    users: null, // the admin users page's data
    leaving: false, // a full page navigation is under way
    enrolling: false, // the session may only enrol a second factor (MFA_REQUIRED)
    refocus: null, // a button to focus again once `busy` enables it (after a dialog)
    busyButton: null, // the button `busy` disabled last
    reauthOpen: false, // the re-authentication dialog is showing
    resetToken: null, // the token of a mailed password-reset link, in memory only
    verifyToken: null, // the token of a mailed verification link, in memory only
    email: '', // an address typed on one public page, offered on the next (memory only)
    noMail: false, // this server answered 404 to a mail route: it sends no mail
    noSignup: false, // this server answered 404 to sign-up: it is off
  };

  // The API's words for the answers this page treats apart.
  const REAUTH_REQUIRED = 'reauthentication required';
  const ENROLMENT_REQUIRED = 'second factor enrolment required';
  const WRONG_CODE = 'wrong code';
  const WRONG_PASSWORD = 'wrong current password';

  const main = document.getElementById('main');
  const nav = document.getElementById('nav');

  // ---------------------------------------------------------------------------------------
  // DOM helpers

  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key === 'class') el.className = value;
      else if (key === 'text') el.textContent = value;
      else if (key === 'for') el.htmlFor = value;
      else if (key.startsWith('on') && typeof value === 'function') {
        el.addEventListener(key.slice(2), value);
      } else if (value === true) el.setAttribute(key, '');
      else el.setAttribute(key, String(value));
    }
    for (const child of children.flat(Infinity)) {
      if (child === null || child === undefined || child === false) continue;
      el.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return el;
  }

  function field(id, label, attrs, hint) {
    const hintId = hint ? `${id}-hint` : null;
    return h(
      'div',
      { class: 'field' },
      h('label', { for: id }, label),
      h('input', { id, name: id, 'aria-describedby': hintId, ...attrs }),
      hint ? h('span', { class: 'hint', id: hintId }, hint) : null,
    );
  }

  function checkbox(id, label, checked) {
    const input = h('input', { type: 'checkbox', id, name: id });
    input.checked = Boolean(checked);
    return h('div', { class: 'check' }, input, h('label', { for: id }, label));
  }

  function messageArea(id) {
    return h('div', { class: 'messages', id, 'aria-live': 'polite', role: 'status' });
  }

  function say(area, kind, text, detail) {
    if (!area) return;
    area.replaceChildren(
      h('p', { class: `message ${kind}` }, text, detail ? h('span', { class: 'detail' }, detail) : null),
    );
  }

  function clear(area) {
    if (area) area.replaceChildren();
  }

  function setTitle(title) {
    document.title = title ? `${title} · ${SITE}` : SITE;
  }

  function setPage(title, ...nodes) {
    setTitle(title);
    main.replaceChildren(...nodes.flat());
  }

  function heading(text) {
    return h('h1', { tabindex: '-1' }, text);
  }

  function loading(title) {
    setPage(title, heading(title), h('p', { class: 'loading' }, 'Loading…'));
  }

  async function busy(button, work) {
    if (button) {
      // Disabling blurs it: a dialog opened meanwhile returns focus here (`focusBack`).
      state.busyButton = button;
      button.disabled = true;
    }
    try {
      return await work();
    } finally {
      if (button) {
        button.disabled = false;
        // A dialog closed while this button was disabled: focus comes back to it, unless the
        // work put focus somewhere else meanwhile.
        if (state.refocus === button) {
          state.refocus = null;
          const lost = !document.activeElement || document.activeElement === document.body;
          if (lost && button.isConnected) button.focus();
        }
      }
    }
  }

  // Focus back on `el` (which may be disabled by `busy` just now).
  function focusBack(el) {
    if (!el || !el.isConnected || el === document.body) return;
    if (el.disabled) state.refocus = el;
    else el.focus();
  }

  function fullName(user) {
    return [user.first_name, user.last_name].filter((s) => s && s.trim()).join(' ');
  }

  function capitalize(s) {
    const text = String(s || '');
    return text ? text[0].toUpperCase() + text.slice(1) : text;
  }

  function sentence(s) {
    const text = capitalize(s).trim();
    return /[.!?]$/.test(text) ? text : `${text}.`;
  }

  // ---------------------------------------------------------------------------------------
  // Time

  function parseUtc(s) {
    if (!s) return null;
    const iso = /[zZ]|[+-]\d\d:?\d\d$/.test(s) ? s : `${s}Z`;
    const d = new Date(iso);
    return Number.isNaN(d.getTime()) ? null : d;
  }

  function localTime(s) {
    const d = parseUtc(s);
    if (!d) return s ? String(s) : '—';
    return d.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });
  }

  function relative(s) {
    const d = parseUtc(s);
    if (!d) return localTime(s);
    const seconds = Math.round((d.getTime() - Date.now()) / 1000);
    const abs = Math.abs(seconds);
    if (abs < 60) return seconds <= 0 ? 'just now' : 'in under a minute';
    const rtf = new Intl.RelativeTimeFormat(undefined, { numeric: 'auto' });
    const units = [
      ['year', 31536000],
      ['month', 2592000],
      ['week', 604800],
      ['day', 86400],
      ['hour', 3600],
      ['minute', 60],
    ];
    for (const [unit, size] of units) {
      if (abs >= size) return rtf.format(Math.round(seconds / size), unit);
    }
    return localTime(s);
  }

  function timeEl(s, rel) {
    const d = parseUtc(s);
    if (!d) return h('span', {}, s ? String(s) : '—');
    return h('time', { datetime: d.toISOString(), title: localTime(s) }, rel ? relative(s) : localTime(s));
  }

  // ---------------------------------------------------------------------------------------
  // Devices

  function deviceName(ua) {
    const s = String(ua || '').trim();
    if (!s) return 'Unknown device';
    const tools = [
      [/^curl\//i, 'curl'],
      [/^Wget\//i, 'Wget'],
      [/^HTTPie\//i, 'HTTPie'],
      [/^PostmanRuntime\//i, 'Postman'],
      [/python-requests|python-urllib|python-httpx|aiohttp/i, 'Python script'],
      [/^Go-http-client\//i, 'Go program'],
      [/^okhttp\//i, 'OkHttp'],
      [/^(node-fetch|undici|axios|node)\b/i, 'Node.js script'],
      [/^reqwest\b/i, 'Rust program'],
    ];
    for (const [re, name] of tools) if (re.test(s)) return name;
    let browser = null;
    if (/\bEdg(e|A|iOS)?\//.test(s)) browser = 'Edge';
    else if (/\bOPR\/|\bOpera\b/.test(s)) browser = 'Opera';
    else if (/\bSamsungBrowser\//.test(s)) browser = 'Samsung Internet';
    else if (/\bFirefox\/|\bFxiOS\//.test(s)) browser = 'Firefox';
    else if (/Chrome\/|\bCriOS\/|\bChromium\//.test(s)) browser = 'Chrome';
    else if (/\bSafari\//.test(s) || /AppleWebKit\//.test(s)) browser = 'Safari';
    let os = null;
    if (/\biPhone\b/.test(s)) os = 'iPhone';
    else if (/\biPad\b/.test(s)) os = 'iPad';
    else if (/\bAndroid\b/.test(s)) os = 'Android';
    else if (/\bWindows\b/.test(s)) os = 'Windows';
    else if (/\bCrOS\b/.test(s)) os = 'ChromeOS';
    else if (/Mac OS X|Macintosh/.test(s)) os = 'macOS';
    else if (/\bLinux\b|\bX11\b/.test(s)) os = 'Linux';
    if (browser && os) return `${browser} on ${os}`;
    if (browser) return browser;
    if (os) return `Browser on ${os}`;
    const product = /^([A-Za-z][\w.-]{0,40})\//.exec(s);
    return product ? product[1] : 'Unknown device';
  }

  // ---------------------------------------------------------------------------------------
  // The API

  async function api(method, path, body) {
    const init = {
      method,
      credentials: 'same-origin',
      cache: 'no-store',
      headers: { Accept: 'application/json' },
    };
    if (body !== undefined) {
      init.headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    let resp;
    try {
      resp = await fetch(API + path, init);
    } catch (_) {
      return { ok: false, status: 0, data: null, headers: new Headers(), network: true };
    }
    let data = null;
    try {
      const text = await resp.text();
      data = text ? JSON.parse(text) : null;
    } catch (_) {
      data = null;
    }
    return { ok: resp.ok, status: resp.status, data, headers: resp.headers };
  }

  function errorOf(r) {
    return r && r.data && typeof r.data.error === 'string' ? r.data.error : '';
  }

  function retryAfter(r) {
    const raw = r.headers.get('Retry-After');
    if (!raw) return null;
    const n = Number.parseInt(raw, 10);
    if (String(n) === raw.trim() && n >= 0) return n;
    const when = Date.parse(raw);
    return Number.isNaN(when) ? null : Math.max(1, Math.ceil((when - Date.now()) / 1000));
  }

  // The text (and detail) that explain an unsuccessful answer. `ctx` may name the words for a
  // 401, 403, 404 or 409 in that place.
  function problem(r, ctx = {}) {
    const err = r.data && typeof r.data.error === 'string' ? r.data.error : '';
    const detail = r.data && typeof r.data.detail === 'string' ? r.data.detail : null;
    switch (true) {
      case r.network:
        return ['sesame could not be reached. Check your connection and try again.'];
      case r.status === 400:
        return [sentence(err || 'The request was not accepted'), detail];
      case r.status === 401:
        return [ctx[401] || 'Your session has ended. Please sign in again.'];
      case r.status === 403 && err === REAUTH_REQUIRED:
        return ['For your security, confirm it is you first, then try again.'];
      case r.status === 403 && err === ENROLMENT_REQUIRED:
        return ['Add a second factor first.'];
      case r.status === 403:
        return [ctx[403] || 'You are not allowed to do that.', detail];
      case r.status === 404:
        return [ctx[404] || 'Not found. It may have been removed already.'];
      case r.status === 409:
        return [ctx[409] || sentence(err || 'That conflicts with the current state'), detail];
      case r.status === 413:
        return ['That is too large to send.'];
      case r.status === 429: {
        const n = retryAfter(r);
        if (n === null) return ['Too many attempts. Try again later.'];
        return [`Too many attempts. Try again in ${n} ${n === 1 ? 'second' : 'seconds'}.`];
      }
      case r.status === 503:
        return ['sesame cannot reach its database right now. Try again in a moment.'];
      case r.status >= 500:
        return ['Something went wrong on the server. Try again in a moment.'];
      default:
        return [sentence(err || `Unexpected answer (HTTP ${r.status})`), detail];
    }
  }

  function sayProblem(area, r, ctx) {
    const [text, detail] = problem(r, ctx);
    say(area, 'error', text, detail);
  }

  // An API call from a signed-in page: a 401, or a 403 after which the session no longer
  // resolves, means the session ended elsewhere (revoked, expired, password changed): the page
  // goes to sign-in. A session that may only enrol a second factor (MFA_REQUIRED) gets the
  // enrolment page instead. The answer is returned otherwise; `ended` says the page is leaving
  // (or was replaced). A 401 `wrong code` and a 403 `reauthentication required` are answers
  // about the request, not the session: they are returned as they are.
  async function call(method, path, body) {
    const r = await api(method, path, body);
    const err = errorOf(r);
    if (r.status === 401 && err === WRONG_CODE) return r;
    if (r.status === 403 && err === REAUTH_REQUIRED) return r;
    if (r.status === 403 && err === ENROLMENT_REQUIRED) {
      showEnrolment();
      return { ...r, ended: true };
    }
    if (r.status === 401) {
      sessionEnded();
      return { ...r, ended: true };
    }
    if (r.status === 403 && path !== '/users/me') {
      const me = await api('GET', '/users/me');
      if (me.status === 403 && errorOf(me) === ENROLMENT_REQUIRED) {
        showEnrolment();
        return { ...r, ended: true };
      }
      if (me.status === 401 || me.status === 403) {
        sessionEnded();
        return { ...r, ended: true };
      }
    } else if (r.status === 403) {
      sessionEnded();
      return { ...r, ended: true };
    }
    return r;
  }

  // A sensitive action (REAUTH_MAX_AGE): on `reauthentication required` the page asks for the
  // password (or a code, or a passkey) in a dialog, then tries once more. `cancelled` says the
  // dialog was dismissed.
  async function sensitive(method, path, body) {
    const r = await call(method, path, body);
    if (r.ended || r.status !== 403 || errorOf(r) !== REAUTH_REQUIRED) return r;
    const confirmed = await reauthenticate();
    if (!confirmed) return { ...r, cancelled: true };
    return call(method, path, body);
  }

  // ---------------------------------------------------------------------------------------
  // Signed-in state

  function markSignedIn() {
    try {
      localStorage.setItem(HINT, '1');
    } catch (_) {
      /* storage may be off: the hint is only a nicety */
    }
  }

  function hadSession() {
    try {
      return localStorage.getItem(HINT) === '1';
    } catch (_) {
      return false;
    }
  }

  function forgetSignIn() {
    try {
      localStorage.removeItem(HINT);
    } catch (_) {
      /* nothing to forget */
    }
  }

  // Drops every private node and every piece of private data, leaving the bare sign-in page.
  function wipe() {
    state.me = null;
    state.setupToken = null;
    state.resetToken = null;
    state.verifyToken = null;
    state.email = '';
    state.users = null;
    state.enrolling = false;
    state.renderId += 1;
    nav.hidden = true;
    nav.replaceChildren();
    main.replaceChildren();
    renderSignInForm(new URLSearchParams(), false);
  }

  function leave(url) {
    state.leaving = true;
    location.replace(url);
  }

  function sessionEnded() {
    if (state.leaving) return;
    const here = location.pathname;
    wipe();
    const rd = PRIVATE.has(here) && here !== '/account' ? `&rd=${encodeURIComponent(here)}` : '';
    leave(`/signin?ended=1${rd}`);
  }

  async function signOut(button) {
    const r = await busy(button, () => api('DELETE', '/auth_session/logout'));
    if (!r.ok && r.status !== 401 && r.status !== 403) {
      sayProblem(document.getElementById('page-messages'), r);
      return;
    }
    forgetSignIn();
    wipe();
    leave('/signin');
  }

  // Re-checks the session when the page comes back into view (another tab may have signed out,
  // or the page was restored from the back-forward cache).
  async function recheck() {
    if (state.leaving || !PRIVATE.has(location.pathname)) return;
    const r = await api('GET', '/users/me');
    if (r.ok && r.data) {
      const changed = !state.me || state.me.id !== r.data.id || state.enrolling;
      state.me = r.data;
      state.enrolling = false;
      if (changed) render();
      else renderNav();
    } else if (r.status === 403 && errorOf(r) === ENROLMENT_REQUIRED) {
      if (!state.enrolling) showEnrolment();
    } else if (r.status === 401 || r.status === 403) {
      if (state.me || hadSession()) sessionEnded();
      else {
        wipe();
        leave(`/signin?rd=${encodeURIComponent(location.pathname)}`);
      }
    }
  }

  // ---------------------------------------------------------------------------------------
  // Navigation

  const PRIVATE = new Set(['/account', '/sessions', '/admin/users']);
  // The pages of the mail links and of sign-up (the server serves them always; their routes
  // answer 404 without SMTP_URL, or, for sign-up, without SIGNUP=open).
  const MAIL_PAGES = new Set(['/forgot', '/reset', '/verify', '/signup']);
  const PAGES = new Set(['/', '/signin', '/setup', ...MAIL_PAGES, ...PRIVATE]);

  function navigate(url, { replace = false, focus = true } = {}) {
    if (replace) history.replaceState(null, '', url);
    else history.pushState(null, '', url);
    render({ focus });
  }

  // A same-origin relative path to go to after sign-in, or null. Only paths: one leading "/",
  // not "//" (another host), no backslash (read as "/" by browsers), no control characters or
  // spaces (which browsers strip, so "/\t/evil" would become "//evil").
  function safeRedirect(rd) {
    if (typeof rd !== 'string' || rd.length > 2048) return null;
    if (!rd.startsWith('/') || rd.startsWith('//') || rd.includes('\\')) return null;
    if (/[\u0000-\u0020\u007f-\u009f]/.test(rd)) return null;
    try {
      const url = new URL(rd, location.origin);
      if (url.origin !== location.origin) return null;
      return url.pathname + url.search + url.hash;
    } catch (_) {
      return null;
    }
  }

  // After sign-in: to `rd` when it is a path of this origin, or when sesame says its host is
  // one forward authentication guards (FORWARD_AUTH_ALLOWED_HOSTS); otherwise to the account.
  async function goAfterSignIn(params) {
    const wanted = params.get('rd');
    const rd = safeRedirect(wanted);
    if (!rd && wanted && /^https?:\/\//i.test(wanted)) {
      const r = await api('GET', `/auth/redirect?rd=${encodeURIComponent(wanted)}`);
      if (r.ok && r.data && typeof r.data.rd === 'string' && /^https?:\/\//i.test(r.data.rd)) {
        location.replace(r.data.rd);
        return;
      }
    }
    if (!rd) {
      navigate('/account', { replace: true });
      return;
    }
    const path = new URL(rd, location.origin).pathname;
    if (path === '/signin' || path === '/setup' || MAIL_PAGES.has(path)) navigate('/account', { replace: true });
    else if (PAGES.has(path)) navigate(rd, { replace: true });
    else leave(rd);
  }

  document.addEventListener('click', (event) => {
    if (event.defaultPrevented || event.button !== 0) return;
    if (event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
    const a = event.target instanceof Element ? event.target.closest('a[href]') : null;
    if (!a || a.target || a.hasAttribute('download')) return;
    const url = new URL(a.href, location.href);
    if (url.origin !== location.origin || !PAGES.has(url.pathname)) return;
    event.preventDefault();
    navigate(url.pathname + url.search);
  });

  window.addEventListener('popstate', () => render({ focus: true }));
  document.addEventListener('visibilitychange', () => {
    if (document.visibilityState === 'visible') recheck();
  });
  window.addEventListener('pageshow', (event) => {
    if (event.persisted) {
      state.leaving = false;
      recheck();
    }
  });

  function renderNav() {
    const me = state.me;
    const signOutButton = h('button', { type: 'button', class: 'secondary small', id: 'sign-out' }, 'Sign out');
    signOutButton.addEventListener('click', () => signOut(signOutButton));
    if (!me && state.enrolling) {
      // A session that may only enrol: nothing to go to but out.
      nav.replaceChildren(h('div', { class: 'nav-user' }, signOutButton));
      nav.hidden = false;
      return;
    }
    if (!me) {
      nav.hidden = true;
      nav.replaceChildren();
      return;
    }
    const here = location.pathname;
    const link = (href, text) =>
      h('li', {}, h('a', { href, 'aria-current': here === href ? 'page' : null }, text));
    nav.replaceChildren(
      h(
        'ul',
        { class: 'nav-links' },
        link('/account', 'Account'),
        link('/sessions', 'Sessions'),
        me.is_admin ? link('/admin/users', 'Users') : null,
      ),
      h(
        'div',
        { class: 'nav-user' },
        h('span', { class: 'nav-email', id: 'nav-email', title: me.email }, me.email),
        signOutButton,
      ),
    );
    nav.hidden = false;
  }

  async function render({ focus = false } = {}) {
    const id = ++state.renderId;
    const path = location.pathname.length > 1 ? location.pathname.replace(/\/+$/, '') : '/';
    const params = new URLSearchParams(location.search);
    if (path === '/signin') await renderSignIn(id, params);
    else if (path === '/setup') renderSetup();
    else if (path === '/forgot') renderForgot(params);
    else if (path === '/reset') renderReset(params);
    else if (path === '/verify') await renderVerify(id, params);
    else if (path === '/signup') renderSignup(params);
    else if (path === '/') await renderRoot(id);
    else if (PRIVATE.has(path)) await renderPrivate(id, path, params);
    else leave('/');
    if (focus && id === state.renderId) {
      const h1 = main.querySelector('h1');
      if (h1) h1.focus();
    }
  }

  async function renderRoot(id) {
    setPage('', h('p', { class: 'loading' }, 'Loading…'));
    const r = await api('GET', '/users/me');
    if (id !== state.renderId) return;
    // Forward authentication sends browsers here with `rd` (SIGNIN_URL is PUBLIC_URL/ unless
    // set): it goes along to sign-in, or straight back when already signed in.
    const params = new URLSearchParams(location.search);
    if (r.ok) {
      state.me = r.data;
      markSignedIn();
      if (params.get('rd')) goAfterSignIn(params);
      else navigate('/account', { replace: true, focus: false });
    } else if (r.status === 403 && errorOf(r) === ENROLMENT_REQUIRED) {
      navigate('/account', { replace: true, focus: false });
    } else navigate(`/signin${params.get('rd') ? `?rd=${encodeURIComponent(params.get('rd'))}` : ''}`, { replace: true, focus: false });
  }

  const TITLES = { '/account': 'My account', '/sessions': 'My sessions', '/admin/users': 'Users' };

  async function renderPrivate(id, path, params) {
    if (!state.me) {
      renderNav();
      loading(TITLES[path]);
      const r = await api('GET', '/users/me');
      if (id !== state.renderId) return;
      if (r.ok && r.data) {
        state.me = r.data;
        state.enrolling = false;
        markSignedIn();
      } else if (r.status === 403 && errorOf(r) === ENROLMENT_REQUIRED) {
        markSignedIn();
        await renderEnrolment(id);
        return;
      } else if (r.status === 401 || r.status === 403) {
        if (hadSession()) sessionEnded();
        else navigate(`/signin?rd=${encodeURIComponent(path)}`, { replace: true, focus: false });
        return;
      } else {
        const area = messageArea('page-messages');
        const retry = h('button', { type: 'button' }, 'Try again');
        retry.addEventListener('click', () => render({ focus: true }));
        setPage(TITLES[path], heading(TITLES[path]), area, h('p', {}, retry));
        sayProblem(area, r);
        return;
      }
    }
    renderNav();
    if (path === '/account') await renderAccount(id);
    else if (path === '/sessions') await renderSessions(id);
    else await renderUsers(id, params);
  }

  // ---------------------------------------------------------------------------------------
  // Sign in

  async function renderSignIn(id, params) {
    state.me = null;
    state.enrolling = false;
    renderNav();
    const area = renderSignInForm(params, true);
    if (params.get('ended') === '1') {
      say(area, 'info', 'Your session has ended. Please sign in again.');
      return;
    }
    // Already signed in (a bookmark, or a second tab): go on at once.
    if (!hadSession()) return;
    const r = await api('GET', '/users/me');
    if (id !== state.renderId) return;
    if (r.status === 403 && errorOf(r) === ENROLMENT_REQUIRED) {
      navigate('/account', { replace: true });
      return;
    }
    if (!r.ok || !r.data) return;
    state.me = r.data;
    markSignedIn();
    goAfterSignIn(params);
  }

  // A sign-in that ended with a user (and its session cookie).
  function signedIn(user, params) {
    state.me = user;
    state.enrolling = false;
    state.email = '';
    markSignedIn();
    goAfterSignIn(params);
  }

  function renderSignInForm(params, live) {
    const area = messageArea('signin-messages');
    const email = field('email', 'Email', { type: 'email', autocomplete: 'username', required: true, spellcheck: 'false' });
    const password = field('password', 'Password', { type: 'password', autocomplete: 'current-password', required: true });
    const submit = h('button', { type: 'submit', class: 'full', id: 'signin-submit' }, 'Sign in');
    const form = h('form', { id: 'signin-form', novalidate: true }, email, password, submit);
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      if (!live) return;
      const emailValue = form.elements.email.value.trim();
      const passwordValue = form.elements.password.value;
      if (!emailValue || !passwordValue) {
        say(area, 'error', 'Enter your email and password.');
        (emailValue ? form.elements.password : form.elements.email).focus();
        return;
      }
      const r = await busy(submit, () =>
        api('POST', '/auth_session/login', { email: emailValue, password: passwordValue }),
      );
      if (r.ok && r.data && r.data.mfa_required) {
        form.elements.password.value = '';
        const methods = Array.isArray(r.data.methods) ? r.data.methods : [];
        renderSecondFactor(params, methods, emailValue);
        return;
      }
      if (r.ok && r.data) {
        form.elements.password.value = '';
        signedIn(r.data, params);
        return;
      }
      form.elements.password.value = '';
      sayProblem(area, r, { 401: 'Wrong email or password.' });
      form.elements.password.focus();
    });
    if (state.email) form.elements.email.value = state.email;

    // Without a password: any passkey of any user (a discoverable credential) signs in.
    let passkey = null;
    if (canUsePasskeys()) {
      const button = h('button', { type: 'button', class: 'secondary full', id: 'passkey-signin' }, 'Sign in with a passkey');
      button.addEventListener('click', async () => {
        if (!live) return;
        clear(area);
        const r = await busy(button, async () => {
          const credential = await askPasskey('/auth_session/passkey/start', area);
          if (!credential) return null;
          return api('POST', '/auth_session/passkey/finish', { credential });
        });
        if (!r) return;
        if (r.ok && r.data && r.data.mfa_required) {
          renderSecondFactor(params, Array.isArray(r.data.methods) ? r.data.methods : [], '');
          return;
        }
        if (r.ok && r.data) {
          signedIn(r.data, params);
          return;
        }
        sayProblem(area, r, { 401: 'sesame does not know this passkey. It may have been removed: sign in with your password.' });
      });
      passkey = h('div', { class: 'alt-signin' }, h('p', { class: 'separator' }, h('span', {}, 'or')), button);
    }
    setPage(
      'Sign in',
      h(
        'div',
        { class: 'narrow' },
        h(
          'div',
          { class: 'card' },
          h('img', { class: 'auth-mark', src: '/assets/icon.svg', alt: '', width: 40, height: 40 }),
          heading('Sign in'),
          h('p', { class: 'lead' }, 'Use your sesame account.'),
          area,
          form,
          passkey,
          mailLinks(params, form.elements.email),
        ),
      ),
    );
    return area;
  }

  // "Forgot your password?" and "Create an account" under the sign-in form. sesame has no
  // route that says whether it sends mail or takes sign-ups, so they show until a mail route
  // answered 404 in this page's life (their pages then say it is not available).
  function mailLinks(params, emailInput) {
    const carry = (path) => {
      const rd = params.get('rd');
      return rd ? `${path}?rd=${encodeURIComponent(rd)}` : path;
    };
    // The address typed so far goes along (in memory, never in the URL).
    const keepEmail = () => {
      state.email = emailInput ? emailInput.value.trim() : '';
    };
    const forgot = state.noMail ? null
      : h('a', { href: carry('/forgot'), id: 'forgot-link', onclick: keepEmail }, 'Forgot your password?');
    const signup = state.noMail || state.noSignup ? null
      : h('p', { class: 'signup-line' }, 'New here? ', h('a', { href: carry('/signup'), id: 'signup-link', onclick: keepEmail }, 'Create an account'));
    if (!forgot && !signup) return null;
    return h('div', { class: 'mail-links' }, forgot ? h('p', {}, forgot) : null, signup);
  }

  // The sign-in page's address with the `rd` that came along, if any.
  function signInHref(params) {
    const rd = params.get('rd');
    return rd ? `/signin?rd=${encodeURIComponent(rd)}` : '/signin';
  }

  // The second step of a sign-in whose password was right: a code from the authenticator app,
  // a recovery code, or a passkey, as `methods` offers. The pending sign-in lives in its own
  // cookie for 5 minutes; Cancel ends it.
  function renderSecondFactor(params, methods, email) {
    const has = (m) => methods.includes(m);
    const passkeyOk = has('passkey') && canUsePasskeys();
    const canCode = has('totp');
    const canRecovery = has('recovery_code');
    let mode = canCode ? 'totp' : 'recovery';
    const area = messageArea('mfa-messages');

    const back = (kind, text) => {
      const signInArea = renderSignInForm(params, true);
      if (email) document.getElementById('email').value = email;
      if (text) say(signInArea, kind, text);
      const target = document.getElementById(email ? 'password' : 'email');
      if (target) target.focus();
    };

    const codeField = () => field('mfa-code', 'Code from your authenticator app', {
      type: 'text', inputmode: 'numeric', autocomplete: 'one-time-code', required: true, spellcheck: 'false', autocapitalize: 'off',
    }, 'The 6-digit code the app shows now.');
    const recoveryField = () => field('mfa-recovery', 'Recovery code', {
      type: 'text', autocomplete: 'off', required: true, spellcheck: 'false', autocapitalize: 'off',
    }, 'One of the codes you saved when you set up your second factor (xxxx-xxxx-xxxx-xxxx). Each works once.');

    const slot = h('div', {});
    const submit = h('button', { type: 'submit', class: 'full', id: 'mfa-submit' }, 'Verify');
    const toggle = h('button', { type: 'button', class: 'link-button', id: 'mfa-toggle' });
    const form = h('form', { id: 'mfa-form', novalidate: true }, slot, submit);
    const setMode = (next, focus) => {
      mode = next;
      slot.replaceChildren(mode === 'totp' ? codeField() : recoveryField());
      toggle.textContent = mode === 'totp' ? 'Use a recovery code instead' : 'Use a code from your authenticator app instead';
      if (focus) slot.querySelector('input').focus();
    };
    if (canCode && canRecovery) {
      toggle.addEventListener('click', () => {
        clear(area);
        setMode(mode === 'totp' ? 'recovery' : 'totp', true);
      });
    }

    // The answers that end the pending sign-in: it expired (403), or its cookie is gone.
    const handle = (r, kind) => {
      if (r.ok && r.data && !r.data.mfa_required) {
        signedIn(r.data, params);
        return;
      }
      const err = errorOf(r);
      if (r.status === 403 || (r.status === 401 && err !== WRONG_CODE)) {
        back('error', 'This sign-in took too long and has ended. Enter your password again.');
        return;
      }
      const input = kind === 'passkey' ? null : slot.querySelector('input');
      if (r.status === 401 && input) input.value = '';
      const wrong = {
        totp: 'That code is not right. Check the time on your phone and try the code shown now.',
        recovery: 'That recovery code is not right, or it was used already.',
        passkey: 'That passkey was not accepted. Use one you added to your account.',
      };
      sayProblem(area, r, { 401: wrong[kind] });
      if (input) input.focus();
    };

    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      const input = slot.querySelector('input');
      const value = mode === 'totp' ? input.value.replace(/\s+/g, '') : input.value.trim().toLowerCase();
      if (!value) {
        say(area, 'error', mode === 'totp' ? 'Enter the code from your authenticator app.' : 'Enter a recovery code.');
        input.focus();
        return;
      }
      const body = mode === 'totp' ? { code: value } : { recovery_code: value };
      const r = await busy(submit, () => api('POST', '/auth_session/mfa', body));
      handle(r, mode);
    });

    let passkeyButton = null;
    if (passkeyOk) {
      passkeyButton = h('button', { type: 'button', class: canCode ? 'secondary full' : 'full', id: 'mfa-passkey' }, 'Use a passkey');
      passkeyButton.addEventListener('click', async () => {
        clear(area);
        const r = await busy(passkeyButton, async () => {
          const credential = await askPasskey('/auth_session/mfa/passkey/start', area, {
            403: 'This sign-in took too long and has ended. Enter your password again.',
          });
          if (!credential) return null;
          return api('POST', '/auth_session/mfa/passkey/finish', { credential });
        });
        if (r) handle(r, 'passkey');
      });
    }

    const cancel = h('button', { type: 'button', class: 'link-button', id: 'mfa-cancel' }, 'Cancel and start again');
    cancel.addEventListener('click', async () => {
      await busy(cancel, () => api('DELETE', '/auth_session/logout'));
      back('info', 'The sign-in was cancelled.');
    });

    // The code form first when there is an app; with a passkey and no app, the passkey first
    // and recovery codes behind "Use a recovery code instead".
    const codes = canCode || canRecovery;
    const formFirst = canCode || (canRecovery && !passkeyOk);
    const separator = h('p', { class: 'separator' }, h('span', {}, 'or'));
    if (codes) setMode(mode, false);
    form.hidden = !formFirst;
    separator.hidden = !(formFirst && passkeyOk);
    let showToggle = canCode && canRecovery;
    if (!canCode && canRecovery && passkeyOk) {
      showToggle = true;
      toggle.textContent = 'Use a recovery code instead';
      toggle.addEventListener('click', () => {
        clear(area);
        form.hidden = false;
        separator.hidden = false;
        toggle.hidden = true;
        setMode('recovery', true);
      });
    }
    let lead;
    if (canCode && passkeyOk) lead = 'Your password was right. Now enter the code from your authenticator app, or use a passkey.';
    else if (canCode) lead = 'Your password was right. Now enter the code from your authenticator app.';
    else if (passkeyOk) lead = 'Your password was right. Now use your passkey.';
    else if (has('passkey') && canRecovery) lead = 'Your password was right. Your account uses a passkey, which this browser cannot use here: enter one of your recovery codes instead.';
    else if (has('passkey')) lead = 'Your password was right, but your second factor is a passkey, which this browser cannot use here. ' +
      'Sign in from a browser or device that can, or ask an administrator to reset your second factors.';
    else lead = 'Your password was right. Now enter one of your recovery codes.';

    setTitle('Second factor');
    main.replaceChildren(
      h(
        'div',
        { class: 'narrow' },
        h(
          'div',
          { class: 'card', id: 'mfa-step' },
          h('img', { class: 'auth-mark', src: '/assets/icon.svg', alt: '', width: 40, height: 40 }),
          heading('Confirm it is you'),
          h('p', { class: 'lead', id: 'mfa-lead' }, lead),
          area,
          codes ? form : null,
          passkeyOk ? separator : null,
          passkeyButton,
          h('div', { class: 'alt-links' }, showToggle ? toggle : null, cancel),
        ),
      ),
    );
    const first = (formFirst && slot.querySelector('input')) || passkeyButton;
    if (first) first.focus();
    else main.querySelector('h1').focus();
  }

  // ---------------------------------------------------------------------------------------
  // Passkeys (WebAuthn): the API's JSON carries binary fields as base64url without padding.

  function canUsePasskeys() {
    return typeof window.PublicKeyCredential === 'function' && Boolean(navigator.credentials) && window.isSecureContext;
  }

  function fromBase64url(text) {
    const b64 = String(text).replace(/-/g, '+').replace(/_/g, '/');
    const raw = atob(b64 + '='.repeat((4 - (b64.length % 4)) % 4));
    const bytes = new Uint8Array(raw.length);
    for (let i = 0; i < raw.length; i += 1) bytes[i] = raw.charCodeAt(i);
    return bytes.buffer;
  }

  function toBase64url(buffer) {
    const bytes = new Uint8Array(buffer);
    let raw = '';
    for (let i = 0; i < bytes.length; i += 1) raw += String.fromCharCode(bytes[i]);
    return btoa(raw).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  }

  function withIds(list) {
    return Array.isArray(list) ? list.map((c) => ({ ...c, id: fromBase64url(c.id) })) : list;
  }

  // `{"publicKey": {...}}` of a start route, as navigator.credentials.create() takes it.
  function creationOptions(data) {
    const pk = { ...data.publicKey };
    pk.challenge = fromBase64url(pk.challenge);
    pk.user = { ...pk.user, id: fromBase64url(pk.user.id) };
    if (pk.excludeCredentials) pk.excludeCredentials = withIds(pk.excludeCredentials);
    return { publicKey: pk };
  }

  // The same for navigator.credentials.get(); any `mediation` the server suggests is left out.
  function requestOptions(data) {
    const pk = { ...data.publicKey };
    pk.challenge = fromBase64url(pk.challenge);
    if (pk.allowCredentials) pk.allowCredentials = withIds(pk.allowCredentials);
    return { publicKey: pk };
  }

  // A PublicKeyCredential as the finish routes take it.
  function credentialJSON(cred) {
    const r = cred.response;
    const response = { clientDataJSON: toBase64url(r.clientDataJSON) };
    if (r.attestationObject) response.attestationObject = toBase64url(r.attestationObject);
    if (r.authenticatorData) {
      response.authenticatorData = toBase64url(r.authenticatorData);
      response.signature = toBase64url(r.signature);
      response.userHandle = r.userHandle ? toBase64url(r.userHandle) : null;
    }
    let extensions = {};
    try {
      extensions = cred.getClientExtensionResults() || {};
    } catch (_) {
      extensions = {};
    }
    return { id: cred.id, rawId: toBase64url(cred.rawId), type: cred.type, response, extensions };
  }

  // What a refused ceremony means, in words.
  function passkeyProblem(e, creating) {
    const name = e && e.name;
    if (name === 'NotAllowedError' || name === 'AbortError') {
      return creating ? 'No passkey was created: it was cancelled, or it took too long.'
        : 'No passkey was used: it was cancelled, or it took too long.';
    }
    if (name === 'InvalidStateError') return 'This device already holds a passkey for your account.';
    if (name === 'SecurityError') {
      return 'Passkeys do not work at this address: sesame’s WEBAUTHN_RP_ID and WEBAUTHN_ORIGIN must match the address in the address bar.';
    }
    if (name === 'NotSupportedError') return 'This browser or device cannot make the kind of passkey sesame asks for.';
    return 'The passkey did not work. Try again.';
  }

  // Runs a sign-in ceremony from `startPath`: the credential as JSON, or null once `area` says
  // why not.
  async function askPasskey(startPath, area, ctx) {
    const start = await api('POST', startPath);
    if (!start.ok || !start.data || !start.data.publicKey) {
      sayProblem(area, start, ctx);
      return null;
    }
    try {
      const cred = await navigator.credentials.get(requestOptions(start.data));
      if (!cred) {
        say(area, 'error', passkeyProblem(null, false));
        return null;
      }
      return credentialJSON(cred);
    } catch (e) {
      say(area, 'error', passkeyProblem(e, false));
      return null;
    }
  }

  // ---------------------------------------------------------------------------------------
  // First-run setup

  function renderSetup() {
    state.me = null;
    state.enrolling = false;
    renderNav();
    const area = messageArea('setup-messages');
    const signInLink = h('a', { href: '/signin' }, 'Go to sign in');
    if (!state.setupToken) {
      setPage(
        'First-run setup',
        h(
          'div',
          { class: 'narrow' },
          h(
            'div',
            { class: 'card' },
            heading('First-run setup'),
            h(
              'p',
              {},
              'This page needs the one-time setup link that sesame writes to its log when it starts ' +
                'without an administrator (it ends in ',
              h('code', {}, '/setup?token=…'),
              '). Open that link to create the first administrator.',
            ),
            h('p', {}, 'Already set up? ', signInLink, '.'),
          ),
        ),
      );
      return;
    }
    const form = h(
      'form',
      { id: 'setup-form', novalidate: true },
      field('email', 'Email', { type: 'email', autocomplete: 'username', required: true, spellcheck: 'false' }),
      h(
        'div',
        { class: 'row' },
        field('first_name', 'First name', { type: 'text', autocomplete: 'given-name' }),
        field('last_name', 'Last name', { type: 'text', autocomplete: 'family-name' }),
      ),
      field('password', 'Password', { type: 'password', autocomplete: 'new-password', required: true }, 'At least 8 characters.'),
      field('password_confirm', 'Confirm password', { type: 'password', autocomplete: 'new-password', required: true }),
      h('button', { type: 'submit', class: 'full', id: 'setup-submit' }, 'Create administrator'),
    );
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      const f = form.elements;
      const body = {
        token: state.setupToken,
        email: f.email.value.trim(),
        password: f.password.value,
        first_name: f.first_name.value.trim(),
        last_name: f.last_name.value.trim(),
      };
      if (!body.email) return say(area, 'error', 'Enter an email address.');
      if (body.password.length < 8) return say(area, 'error', 'Use a password of at least 8 characters.');
      if (body.password !== f.password_confirm.value) return say(area, 'error', 'The two passwords do not match.');
      const r = await busy(form.querySelector('button'), () => api('POST', '/setup', body));
      if (r.ok && r.data) {
        state.setupToken = null;
        state.me = r.data;
        markSignedIn();
        navigate('/account', { replace: true });
        return;
      }
      if (r.status === 403) {
        state.setupToken = null;
        form.replaceWith(
          h('p', {}, 'You can sign in with an existing administrator account: ', h('a', { href: '/signin' }, 'go to sign in'), '.'),
        );
        say(
          area,
          'error',
          'This setup link is not valid: it is wrong, it was already used, or an administrator already exists.',
        );
        return;
      }
      sayProblem(area, r, { 404: 'This server does not offer first-run setup.' });
    });
    setPage(
      'First-run setup',
      h(
        'div',
        { class: 'narrow' },
        h(
          'div',
          { class: 'card' },
          h('img', { class: 'auth-mark', src: '/assets/icon.svg', alt: '', width: 40, height: 40 }),
          heading('Create the first administrator'),
          h('p', { class: 'lead' }, 'This account can then create and manage every other user.'),
          area,
          form,
        ),
      ),
    );
  }

  // ---------------------------------------------------------------------------------------
  // Mail: a forgotten password, the mailed links (reset, verify) and sign-up. Their routes
  // answer 404 when sesame sends no mail (no SMTP_URL) or, for sign-up, when SIGNUP is not
  // open: the page then says so, and the sign-in page stops offering the link.

  // The API's words for a mailed link that no longer works.
  const LINK_INVALID = 'the link is not valid';
  const LINK_LIFETIME_TEXT = 'It works for 15 minutes.';

  function isLinkInvalid(r) {
    return r.status === 400 && errorOf(r).startsWith(LINK_INVALID);
  }

  // A page for people who are not signed in: no navigation, no user in memory.
  function publicPage() {
    state.me = null;
    state.enrolling = false;
    renderNav();
  }

  // The narrow card of the public pages, with `nodes` under the mark.
  function authCard(title, id, ...nodes) {
    setPage(
      title,
      h(
        'div',
        { class: 'narrow' },
        h(
          'div',
          { class: 'card', id },
          h('img', { class: 'auth-mark', src: '/assets/icon.svg', alt: '', width: 40, height: 40 }),
          ...nodes,
        ),
      ),
    );
  }

  function focusHeading() {
    const h1 = main.querySelector('h1');
    if (h1) h1.focus();
  }

  const NO_MAIL_RESET = 'This server does not send mail, so it cannot reset a password by itself. ' +
    'Ask an administrator to set a new password for you.';

  function renderForgot(params) {
    publicPage();
    const area = messageArea('forgot-messages');
    const back = () => h('a', { href: signInHref(params), class: 'back-link' }, 'Back to sign in');
    const submit = h('button', { type: 'submit', class: 'full', id: 'forgot-submit' }, 'Send me a link');
    const form = h(
      'form',
      { id: 'forgot-form', novalidate: true },
      field('email', 'Email', { type: 'email', autocomplete: 'username', required: true, spellcheck: 'false' }),
      submit,
    );
    form.elements.email.value = state.email || '';
    const sent = (email) => {
      const again = h('button', { type: 'button', class: 'link-button', id: 'forgot-again' }, 'Send another link');
      again.addEventListener('click', () => {
        state.email = email;
        renderForgot(params);
        focusHeading();
      });
      authCard(
        'Check your mail',
        'forgot-sent',
        heading('Check your mail'),
        area,
        h('p', { class: 'muted' }, 'No mail after a few minutes? Look in your spam folder, check the address, or ask for another link. ' +
          'Each new link replaces the one before.'),
        h('div', { class: 'alt-links' }, again, back()),
      );
      say(area, 'success', `If an account exists for that address, we have sent a link. ${LINK_LIFETIME_TEXT}`);
      focusHeading();
    };
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      const email = form.elements.email.value.trim();
      if (!email) {
        say(area, 'error', 'Enter the email address of your account.');
        form.elements.email.focus();
        return;
      }
      const r = await busy(submit, () => api('POST', '/auth_session/reset_password', { email }));
      if (r.ok) {
        state.email = email;
        sent(email);
        return;
      }
      if (r.status === 404) {
        state.noMail = true;
        form.hidden = true;
        say(area, 'error', NO_MAIL_RESET);
        return;
      }
      sayProblem(area, r);
      form.elements.email.focus();
    });
    authCard(
      'Forgot your password?',
      'forgot-card',
      heading('Forgot your password?'),
      h('p', { class: 'lead' }, 'Enter the address of your account: we mail you a link to choose a new password.'),
      area,
      form,
      h('div', { class: 'alt-links' }, back()),
    );
  }

  function renderReset(params) {
    publicPage();
    const area = messageArea('reset-messages');
    const askAgain = () => h('a', { href: '/forgot', id: 'reset-ask-again' }, 'Ask for a new link');
    const back = () => h('a', { href: signInHref(params), class: 'back-link' }, 'Back to sign in');
    if (!state.resetToken) {
      authCard(
        'Set a new password',
        'reset-card',
        heading('Set a new password'),
        h('p', {}, 'This page needs the link of the mail we sent when you asked to reset your password. ' +
          'Open the link from the mail again, or ask for a new one.'),
        h('div', { class: 'alt-links' }, askAgain(), back()),
      );
      return;
    }
    const submit = h('button', { type: 'submit', class: 'full', id: 'reset-submit' }, 'Set the new password');
    const form = h(
      'form',
      { id: 'reset-form', novalidate: true },
      field('new_password', 'New password', { type: 'password', autocomplete: 'new-password', required: true },
        'At least 8 characters, and not your email address. Every session of your account will be signed out.'),
      field('new_password_confirm', 'Confirm new password', { type: 'password', autocomplete: 'new-password', required: true }),
      submit,
    );
    const invalid = (text) => {
      state.resetToken = null;
      form.replaceWith(h('div', { class: 'alt-links' }, askAgain(), back()));
      say(area, 'error', text);
      focusHeading();
    };
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      const f = form.elements;
      if (!f.new_password.value) {
        say(area, 'error', 'Enter a new password.');
        f.new_password.focus();
        return;
      }
      if (f.new_password.value !== f.new_password_confirm.value) {
        say(area, 'error', 'The two passwords do not match.');
        f.new_password_confirm.focus();
        return;
      }
      const body = { token: state.resetToken, new_password: f.new_password.value };
      const r = await busy(submit, () => api('PUT', '/auth_session/reset_password', body));
      if (r.ok) {
        state.resetToken = null;
        // Every session of the account ended, this browser's too, if it had one.
        forgetSignIn();
        const signIn = h('a', { href: signInHref(params), class: 'button full', id: 'reset-signin' }, 'Sign in');
        authCard(
          'Password changed',
          'reset-done',
          heading('Password changed'),
          area,
          h('p', { class: 'actions' }, signIn),
        );
        say(area, 'success', 'Your password was changed, and every session of your account was signed out. Sign in with the new password.');
        focusHeading();
        return;
      }
      if (isLinkInvalid(r)) {
        invalid(sentence(errorOf(r)));
        return;
      }
      if (r.status === 404) {
        state.noMail = true;
        invalid('This server does not send mail, so password-reset links do not work here.');
        return;
      }
      // The password policy (or another refusal): the form stays for another try.
      f.new_password.value = '';
      f.new_password_confirm.value = '';
      sayProblem(area, r);
      f.new_password.focus();
    });
    authCard(
      'Set a new password',
      'reset-card',
      heading('Set a new password'),
      h('p', { class: 'lead' }, 'Choose the new password of your sesame account.'),
      area,
      form,
    );
  }

  async function renderVerify(id, params) {
    publicPage();
    const area = messageArea('verify-messages');
    const back = (label = 'Back to sign in') => h('a', { href: signInHref(params), class: 'back-link' }, label);
    if (!state.verifyToken) {
      authCard(
        'Verify your address',
        'verify-card',
        heading('Verify your address'),
        h('p', {}, 'This page needs the link of the mail we sent to verify your address: open the link from the mail again.'),
        h('div', { class: 'alt-links' }, back()),
      );
      return;
    }
    authCard('Verify your address', 'verify-card', heading('Verifying your address'), h('p', { class: 'loading' }, 'Verifying…'));
    const r = await api('PUT', '/auth_session/verify_email', { token: state.verifyToken });
    if (id !== state.renderId) return;
    if (r.ok && r.data) {
      state.verifyToken = null;
      state.email = typeof r.data.email === 'string' ? r.data.email : '';
      authCard(
        'Address verified',
        'verify-done',
        heading('Address verified'),
        area,
        h('p', { class: 'actions' }, h('a', { href: signInHref(params), class: 'button full', id: 'verify-signin' }, 'Sign in')),
      );
      say(area, 'success', 'Address verified, you can sign in.', state.email || null);
      focusHeading();
      return;
    }
    if (isLinkInvalid(r) || r.status === 404) {
      state.verifyToken = null;
      if (r.status === 404) state.noMail = true;
      authCard(
        'This link does not work',
        'verify-failed',
        heading('This link does not work'),
        area,
        r.status === 404 ? null
          : h('p', {}, 'If you opened it before, your address is verified already: sign in. Otherwise “Forgot your password?” ' +
            'mails a new link, which verifies the address too.'),
        h(
          'div',
          { class: 'alt-links' },
          back('Go to sign in'),
          r.status === 404 ? null : h('a', { href: '/forgot', id: 'verify-forgot' }, 'Forgot your password?'),
        ),
      );
      say(area, 'error', r.status === 404 ? 'This server does not send mail, so it has no addresses to verify.' : sentence(errorOf(r)));
      focusHeading();
      return;
    }
    // Not an answer about the link (no connection, a busy server): it may work on a retry.
    const retry = h('button', { type: 'button', id: 'verify-retry' }, 'Try again');
    retry.addEventListener('click', () => render({ focus: true }));
    authCard('Verify your address', 'verify-card', heading('Verify your address'), area, h('p', { class: 'actions' }, retry));
    sayProblem(area, r);
  }

  function renderSignup(params) {
    publicPage();
    const area = messageArea('signup-messages');
    const back = () => h('p', { class: 'signup-line' }, 'Have an account? ', h('a', { href: signInHref(params), class: 'back-link' }, 'Sign in'));
    const submit = h('button', { type: 'submit', class: 'full', id: 'signup-submit' }, 'Create account');
    const form = h(
      'form',
      { id: 'signup-form', novalidate: true },
      field('email', 'Email', { type: 'email', autocomplete: 'username', required: true, spellcheck: 'false' },
        'We mail a link to this address: the account signs in once you open it.'),
      h(
        'div',
        { class: 'row' },
        field('first_name', 'First name (optional)', { type: 'text', autocomplete: 'given-name' }),
        field('last_name', 'Last name (optional)', { type: 'text', autocomplete: 'family-name' }),
      ),
      field('password', 'Password', { type: 'password', autocomplete: 'new-password', required: true }, 'At least 8 characters, and not your email address.'),
      field('password_confirm', 'Confirm password', { type: 'password', autocomplete: 'new-password', required: true }),
      submit,
    );
    form.elements.email.value = state.email || '';
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      const f = form.elements;
      const email = f.email.value.trim();
      const fail = (text, input) => {
        say(area, 'error', text);
        input.focus();
      };
      if (!email) return fail('Enter an email address.', f.email);
      if (!f.password.value) return fail('Enter a password.', f.password);
      if (f.password.value !== f.password_confirm.value) return fail('The two passwords do not match.', f.password_confirm);
      const body = { email, password: f.password.value };
      const first = f.first_name.value.trim();
      const last = f.last_name.value.trim();
      if (first) body.first_name = first;
      if (last) body.last_name = last;
      const r = await busy(submit, () => api('POST', '/auth_session/signup', body));
      if (r.ok) {
        state.email = email;
        authCard(
          'Check your mail',
          'signup-sent',
          heading('Check your mail'),
          area,
          h('p', { class: 'muted' }, 'Open the link in the mail to finish, then sign in. No mail after a few minutes? Look in your spam folder.'),
          h('div', { class: 'alt-links' }, h('a', { href: signInHref(params), class: 'back-link' }, 'Go to sign in')),
        );
        say(area, 'success', `Check your mail: we sent a link to verify the address. ${LINK_LIFETIME_TEXT}`, email);
        focusHeading();
        return;
      }
      if (r.status === 404) {
        state.noSignup = true;
        form.hidden = true;
        say(area, 'error', 'This server does not take sign-ups. Ask an administrator for an account.');
        return;
      }
      const err = errorOf(r);
      sayProblem(area, r);
      if (r.status === 400 && /password/i.test(err)) {
        f.password.value = '';
        f.password_confirm.value = '';
        f.password.focus();
      } else if (r.status === 400) f.email.focus();
    });
    authCard(
      'Create an account',
      'signup-card',
      heading('Create an account'),
      h('p', { class: 'lead' }, 'Your own sesame account, ready once you open the link we mail you.'),
      area,
      form,
      back(),
    );
  }

  // ---------------------------------------------------------------------------------------
  // My account

  async function renderAccount(id) {
    const r = await call('GET', '/users/me');
    if (r.ended || id !== state.renderId) return;
    const page = messageArea('page-messages');
    if (!r.ok || !r.data) {
      setPage('My account', heading('My account'), page);
      sayProblem(page, r);
      return;
    }
    const me = r.data;
    state.me = me;
    state.enrolling = false;
    const [listed, mfa] = await Promise.all([call('GET', '/users/me/passkeys'), call('GET', '/users/me/mfa')]);
    if (listed.ended || mfa.ended || id !== state.renderId) return;
    const factors = factorHub(factorsOf(mfa));
    renderNav();

    const profileArea = messageArea('profile-messages');
    const profile = h(
      'form',
      { id: 'profile-form', novalidate: true },
      h(
        'div',
        { class: 'row' },
        field('first_name', 'First name', { type: 'text', autocomplete: 'given-name' }),
        field('last_name', 'Last name', { type: 'text', autocomplete: 'family-name' }),
      ),
      h('div', { class: 'actions' }, h('button', { type: 'submit', id: 'profile-save' }, 'Save name')),
    );
    profile.elements.first_name.value = me.first_name || '';
    profile.elements.last_name.value = me.last_name || '';
    profile.addEventListener('submit', async (event) => {
      event.preventDefault();
      const body = {
        first_name: profile.elements.first_name.value.trim(),
        last_name: profile.elements.last_name.value.trim(),
      };
      const res = await busy(profile.querySelector('button'), () => call('PUT', '/users/me', body));
      if (res.ended) return;
      if (res.ok && res.data) {
        state.me = res.data;
        renderNav();
        say(profileArea, 'success', 'Your name was saved.');
      } else sayProblem(profileArea, res);
    });

    const passwordArea = messageArea('password-messages');
    const password = h(
      'form',
      { id: 'password-form', novalidate: true },
      h('input', { type: 'text', name: 'username', autocomplete: 'username', value: me.email, hidden: true, 'aria-hidden': 'true', tabindex: '-1' }),
      field('current_password', 'Current password', { type: 'password', autocomplete: 'current-password', required: true }),
      field('new_password', 'New password', { type: 'password', autocomplete: 'new-password', required: true }, 'At least 8 characters. Your other sessions will be signed out.'),
      field('new_password_confirm', 'Confirm new password', { type: 'password', autocomplete: 'new-password', required: true }),
      h('div', { class: 'actions' }, h('button', { type: 'submit', id: 'password-save' }, 'Change password')),
    );
    password.addEventListener('submit', async (event) => {
      event.preventDefault();
      const f = password.elements;
      if (!f.current_password.value) return say(passwordArea, 'error', 'Enter your current password.');
      if (!f.new_password.value) return say(passwordArea, 'error', 'Enter a new password.');
      if (f.new_password.value !== f.new_password_confirm.value) {
        return say(passwordArea, 'error', 'The two new passwords do not match.');
      }
      const body = { current_password: f.current_password.value, new_password: f.new_password.value };
      const res = await busy(password.querySelector('button'), () => call('PUT', '/users/me/password', body));
      if (res.ended) return;
      if (res.ok) {
        password.reset();
        say(passwordArea, 'success', 'Your password was changed. Your other sessions were signed out.');
      } else {
        f.current_password.value = '';
        sayProblem(passwordArea, res, { 403: 'The current password is wrong.' });
      }
    });

    const name = fullName(me);
    setPage(
      'My account',
      h(
        'div',
        { class: 'page-head' },
        h('div', {}, heading('My account'), h('p', { class: 'lead' }, 'Your profile, your password and your second factors.')),
      ),
      page,
      h(
        'div',
        { class: 'grid' },
        h(
          'section',
          { class: 'card', 'aria-labelledby': 'profile-title' },
          h('h2', { id: 'profile-title' }, 'Profile'),
          h(
            'dl',
            { class: 'facts', id: 'profile-facts' },
            h('dt', {}, 'Email'),
            h('dd', { id: 'account-email' }, me.email),
            h('dt', {}, 'Name'),
            h('dd', { id: 'account-name' }, name || h('span', { class: 'muted' }, 'Not set')),
            h('dt', {}, 'Role'),
            h(
              'dd',
              { id: 'account-role' },
              me.is_admin ? h('span', { class: 'badge' }, 'Administrator') : h('span', { class: 'badge neutral' }, 'User'),
            ),
            h('dt', {}, 'Member since'),
            h('dd', {}, timeEl(me.created_at)),
          ),
          h('hr', { class: 'divider' }),
          profileArea,
          profile,
        ),
        h(
          'section',
          { class: 'card', 'aria-labelledby': 'password-title' },
          h('h2', { id: 'password-title' }, 'Change password'),
          passwordArea,
          password,
        ),
      ),
      h(
        'section',
        { class: 'factors', id: 'second-factors', 'aria-labelledby': 'factors-title' },
        h('h2', { id: 'factors-title', class: 'section-title' }, 'Second factors'),
        h('p', { class: 'lead' }, 'Something besides your password, asked for when you sign in.'),
        h(
          'div',
          { class: 'grid' },
          totpCard({
            level: 3,
            initial: factors.value ? factors.value.totp : null,
            pending: Boolean(factors.value && factors.value.totp_pending),
            onChange: factors.refresh,
          }),
          passkeysCard({
            level: 3,
            list: listed.ok && Array.isArray(listed.data) ? listed.data : null,
            listProblem: listed.ok ? null : listed,
            onChange: factors.refresh,
          }),
          recoveryCard({ level: 3, factors }),
        ),
      ),
    );
    if (!mfa.ok) sayProblem(page, mfa, { 404: 'This server does not say which second factors you have.' });
  }

  // The answer of GET /users/me/mfa, when it is one.
  function factorsOf(r) {
    const f = r && r.ok ? r.data : null;
    if (!f || typeof f.totp !== 'boolean' || !Number.isInteger(f.passkeys) || !Number.isInteger(f.recovery_codes_left)) return null;
    return f;
  }

  // Whether the factors include a second factor (recovery codes alone are not one).
  function hasSecondFactor(f) {
    return Boolean(f && (f.totp || f.passkeys > 0));
  }

  // The second factors of the account page, as GET /users/me/mfa last said (null: unknown).
  // After a change a card calls `refresh`; the cards that show a part of it redraw.
  function factorHub(initial) {
    const watchers = [];
    const hub = {
      value: initial,
      watch(fn) {
        watchers.push(fn);
      },
      async refresh() {
        const r = await call('GET', '/users/me/mfa');
        const f = r.ended ? null : factorsOf(r);
        if (!f) return;
        hub.value = f;
        for (const fn of watchers) fn(f);
      },
    };
    return hub;
  }

  // ---------------------------------------------------------------------------------------
  // Second factors: the account page's cards, also on the enrolment page (MFA_REQUIRED)

  const SVG_NS = 'http://www.w3.org/2000/svg';

  function hx(level, attrs, ...children) {
    return h(`h${Math.min(6, level)}`, attrs, ...children);
  }

  // The QR code of a TOTP enrolment: the server's SVG document, parsed as XML and rebuilt from
  // its rectangles and paths alone (no script, no style attribute, nothing else carried over).
  function qrImage(text) {
    let doc;
    try {
      doc = new DOMParser().parseFromString(String(text || ''), 'image/svg+xml');
    } catch (_) {
      return null;
    }
    const src = doc.documentElement;
    if (!src || src.namespaceURI !== SVG_NS || src.localName !== 'svg') return null;
    if (doc.getElementsByTagName('parsererror').length) return null;
    const svg = document.createElementNS(SVG_NS, 'svg');
    const width = src.getAttribute('width') || '200';
    const height = src.getAttribute('height') || '200';
    svg.setAttribute('viewBox', src.getAttribute('viewBox') || `0 0 ${width} ${height}`);
    svg.setAttribute('class', 'qr-code');
    svg.setAttribute('role', 'img');
    svg.setAttribute('aria-label', 'QR code for your authenticator app');
    svg.setAttribute('shape-rendering', 'crispEdges');
    for (const el of src.querySelectorAll('rect, path')) {
      const copy = document.createElementNS(SVG_NS, el.localName);
      for (const name of ['x', 'y', 'width', 'height', 'd', 'fill']) {
        if (el.hasAttribute(name)) copy.setAttribute(name, el.getAttribute(name));
      }
      svg.append(copy);
    }
    return svg.childNodes.length ? svg : null;
  }

  // A set of recovery codes, shown this once.
  function recoveryCodesView(codes, { level, done, doneLabel }) {
    const title = hx(level, { id: 'recovery-codes-title', tabindex: '-1' }, 'Save your recovery codes now');
    const area = messageArea('recovery-copy-messages');
    const actions = h('div', { class: 'actions' });
    if (navigator.clipboard && typeof navigator.clipboard.writeText === 'function') {
      const copy = h('button', { type: 'button', class: 'secondary', id: 'recovery-copy' }, 'Copy the codes');
      copy.addEventListener('click', async () => {
        try {
          await navigator.clipboard.writeText(`${codes.join('\n')}\n`);
          say(area, 'success', 'The codes were copied.');
        } catch (_) {
          say(area, 'error', 'The codes could not be copied: select them and copy them by hand.');
        }
      });
      actions.append(copy);
    }
    const ok = h('button', { type: 'button', id: 'recovery-done' }, doneLabel || 'I have saved them');
    ok.addEventListener('click', () => done());
    actions.append(ok);
    return h(
      'div',
      { class: 'recovery', id: 'recovery-panel', role: 'group', 'aria-labelledby': 'recovery-codes-title' },
      title,
      h(
        'p',
        { class: 'message info', id: 'recovery-warning' },
        h('strong', {}, 'These codes are shown only this once.'),
        ' Each one works once, in place of a code from your app or a passkey, if you lose them. ' +
          'Keep them somewhere safe, such as a password manager.',
      ),
      h('ol', { class: 'codes', id: 'recovery-codes' }, codes.map((c) => h('li', {}, h('code', {}, c)))),
      area,
      actions,
    );
  }

  // The authenticator app (TOTP): its state as GET /users/me/mfa said (`initial`: true, false,
  // or null when unknown; `pending`: a set-up was started and not finished), setting it up
  // (QR code, key, first code) and removing it. `onChange` hears of each change.
  function totpCard({ level, initial, pending: initialPending, done, doneLabel, onChange }) {
    let on = initial;
    let pending = Boolean(initialPending);
    const area = messageArea('totp-messages');
    const status = h('p', { id: 'totp-status', class: 'status-line' });
    const body = h('div', { id: 'totp-body' });
    const set = (value) => {
      on = value;
      pending = false;
      if (onChange) onChange();
    };

    function show() {
      status.replaceChildren();
      if (on === true) status.append(h('span', { class: 'badge' }, 'On'), ' Sign-in asks for a code from your app.');
      else if (on === false && pending) {
        status.append(h('span', { class: 'badge neutral' }, 'Off'), ' A set-up was started but not finished: set up again for a new QR code.');
      } else if (on === false) status.append(h('span', { class: 'badge neutral' }, 'Off'), ' Not set up.');
      status.hidden = on === null;
      const setup = h('button', { type: 'button', id: 'totp-setup' }, on === null ? 'Set up an authenticator app' : 'Set up');
      setup.addEventListener('click', () => start(setup));
      const remove = h('button', { type: 'button', class: 'danger-quiet', id: 'totp-remove' }, 'Remove…');
      const confirmBox = h('div', {});
      remove.addEventListener('click', () => {
        clear(area);
        const question = h('p', { tabindex: '-1' }, 'Remove the authenticator app? Sign-in will stop asking for its codes. ' +
          'Without a passkey either, your recovery codes stop working too.');
        const yes = h('button', { type: 'button', class: 'danger', id: 'totp-remove-yes' }, 'Remove the app');
        const no = h('button', { type: 'button', class: 'secondary', id: 'totp-remove-no' }, 'Keep it');
        no.addEventListener('click', () => {
          confirmBox.replaceChildren();
          remove.hidden = false;
          remove.focus();
        });
        yes.addEventListener('click', async () => {
          const res = await busy(yes, () => sensitive('DELETE', '/users/me/totp'));
          if (res.ended || res.cancelled) return;
          if (res.ok || res.status === 404) {
            set(false);
            show();
            say(area, res.ok ? 'success' : 'info', res.ok ? 'The authenticator app was removed.' : 'No authenticator app was set up.');
            body.querySelector('button').focus();
            return;
          }
          sayProblem(area, res);
        });
        remove.hidden = true;
        confirmBox.replaceChildren(h('div', { class: 'confirm', role: 'group', 'aria-label': 'Confirm removal' }, question, h('div', { class: 'actions' }, yes, no)));
        question.focus();
      });
      body.replaceChildren(h('div', { class: 'actions' }, on !== true ? setup : null, on !== false ? remove : null), confirmBox);
    }

    async function start(button) {
      clear(area);
      const res = await busy(button, () => sensitive('POST', '/users/me/totp'));
      if (res.ended || res.cancelled) return;
      if (res.status === 409) {
        set(true);
        show();
        say(area, 'info', 'An authenticator app is set up already. Remove it first to set up another.');
        return;
      }
      if (!res.ok || !res.data || typeof res.data.secret !== 'string') {
        sayProblem(area, res);
        return;
      }
      pending = true;
      enrol(res.data);
    }

    function enrol(data) {
      const secret = data.secret.replace(/\s+/g, '');
      const qr = qrImage(data.qr_svg);
      const title = hx(level + 1, { id: 'totp-enrol-title', tabindex: '-1' }, 'Set up your authenticator app');
      const confirmButton = h('button', { type: 'submit', id: 'totp-confirm' }, 'Turn on');
      const cancel = h('button', { type: 'button', class: 'secondary', id: 'totp-cancel' }, 'Cancel');
      const form = h(
        'form',
        { id: 'totp-confirm-form', novalidate: true },
        field('totp-code', 'Code from the app', {
          type: 'text', inputmode: 'numeric', autocomplete: 'one-time-code', required: true, spellcheck: 'false', autocapitalize: 'off',
        }, 'The 6 digits the app shows for sesame.'),
        h('div', { class: 'actions' }, confirmButton, cancel),
      );
      cancel.addEventListener('click', () => {
        clear(area);
        show();
        body.querySelector('button').focus();
      });
      form.addEventListener('submit', async (event) => {
        event.preventDefault();
        const input = form.elements['totp-code'];
        const code = input.value.replace(/\s+/g, '');
        if (!/^\d{6}$/.test(code)) {
          say(area, 'error', 'Enter the 6 digits the app shows.');
          input.focus();
          return;
        }
        const res = await busy(confirmButton, () => sensitive('POST', '/users/me/totp/confirm', { code }));
        if (res.ended || res.cancelled) return;
        if (res.ok && res.data && Array.isArray(res.data.recovery_codes)) {
          set(true);
          status.hidden = true;
          say(area, 'success', 'The authenticator app is on. Your other sessions were signed out.');
          const finish = done || (() => {
            clear(area);
            show();
            body.querySelector('button').focus();
          });
          body.replaceChildren(recoveryCodesView(res.data.recovery_codes, { level: level + 1, done: finish, doneLabel }));
          body.querySelector('#recovery-codes-title').focus();
          return;
        }
        if (res.status === 409) {
          show();
          say(area, 'error', 'This set-up expired or was replaced. Start again.');
          return;
        }
        input.value = '';
        sayProblem(area, res, { 401: 'That code is not right. Enter the code the app shows now: it changes every 30 seconds.' });
        input.focus();
      });
      status.hidden = true;
      body.replaceChildren(
        h(
          'div',
          { class: 'enrol', id: 'totp-enrol', role: 'group', 'aria-labelledby': 'totp-enrol-title' },
          title,
          h(
            'ol',
            { class: 'steps' },
            h('li', {}, h('p', {}, 'In your authenticator app, add an account and scan this QR code.'), qr ? h('div', { class: 'qr' }, qr) : null),
            h(
              'li',
              {},
              h('p', {}, 'Cannot scan it? Enter this key by hand (time-based, 6 digits):'),
              h('p', { class: 'secret-line' }, h('code', { class: 'secret', id: 'totp-secret' }, secret.replace(/(.{4})(?=.)/g, '$1 '))),
            ),
            h('li', {}, h('p', {}, 'Enter the code the app now shows for sesame.'), form),
          ),
        ),
      );
      title.focus();
    }

    show();
    return h(
      'section',
      { class: 'card', id: 'totp-card', 'aria-labelledby': 'totp-title' },
      hx(level, { id: 'totp-title' }, 'Authenticator app'),
      h('p', { class: 'muted' }, 'An app on your phone, such as Google Authenticator, Microsoft Authenticator, 1Password or Aegis, ' +
        'shows a new 6-digit code every 30 seconds.'),
      status,
      area,
      body,
    );
  }

  // Passkeys: the list (name, added, last used, remove) and adding one under a name.
  // `onAdded` hears of a new passkey, `onChange` of any change.
  function passkeysCard({ level, list, listProblem, onAdded, onChange }) {
    const area = messageArea('passkey-messages');
    const box = h('div', { id: 'passkey-box' });
    let passkeys = Array.isArray(list) ? list.slice() : [];
    const nameInput = () => document.getElementById('passkey-name');

    function item(p) {
      const remove = h('button', { type: 'button', class: 'secondary small', 'aria-label': `Remove passkey ${p.name}`, 'data-passkey': p.id }, 'Remove');
      remove.addEventListener('click', async () => {
        clear(area);
        const res = await busy(remove, () => sensitive('DELETE', `/users/me/passkeys/${encodeURIComponent(p.id)}`));
        if (res.ended || res.cancelled) return;
        if (res.ok || res.status === 404) {
          passkeys = passkeys.filter((x) => x.id !== p.id);
          showList();
          say(area, 'success', `The passkey “${p.name}” was removed.`);
          if (onChange) onChange();
          const next = box.querySelector('button') || nameInput();
          if (next) next.focus();
          return;
        }
        sayProblem(area, res);
      });
      return h(
        'li',
        { class: 'item passkey', 'data-name': p.name },
        h(
          'div',
          {},
          hx(level + 1, { class: 'item-title' }, p.name),
          h(
            'dl',
            { class: 'item-meta' },
            h('div', {}, h('dt', {}, 'Added'), h('dd', {}, timeEl(p.created_at))),
            h('div', {}, h('dt', {}, 'Last used'), h('dd', { class: 'last-used' }, p.last_used_at ? timeEl(p.last_used_at, true) : 'Never')),
          ),
        ),
        remove,
      );
    }

    function showList() {
      if (!passkeys.length) box.replaceChildren(h('p', { class: 'muted', id: 'passkey-none' }, 'No passkeys yet.'));
      else box.replaceChildren(h('ul', { class: 'item-list', id: 'passkey-list' }, passkeys.map(item)));
    }

    const add = h('button', { type: 'submit', id: 'passkey-add' }, 'Add a passkey');
    const form = h(
      'form',
      { id: 'passkey-form', novalidate: true },
      field('passkey-name', 'Name of the new passkey', { type: 'text', autocomplete: 'off', maxlength: 64, required: true },
        'So you can tell your passkeys apart, like “Laptop” or “Phone”.'),
      h('div', { class: 'actions' }, add),
    );
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      clear(area);
      const name = form.elements['passkey-name'].value.trim();
      if (!name) {
        say(area, 'error', 'Give the new passkey a name.');
        form.elements['passkey-name'].focus();
        return;
      }
      const res = await busy(add, async () => {
        const start = await sensitive('POST', '/users/me/passkeys/register/start');
        if (start.ended || start.cancelled) return null;
        if (!start.ok || !start.data || !start.data.publicKey) {
          sayProblem(area, start);
          return null;
        }
        let cred;
        try {
          cred = await navigator.credentials.create(creationOptions(start.data));
        } catch (e) {
          say(area, 'error', passkeyProblem(e, true));
          return null;
        }
        if (!cred) {
          say(area, 'error', passkeyProblem(null, true));
          return null;
        }
        return sensitive('POST', '/users/me/passkeys/register/finish', { name, credential: credentialJSON(cred) });
      });
      if (!res || res.ended || res.cancelled) return;
      if (res.ok && res.data) {
        passkeys = passkeys.concat([res.data]);
        showList();
        form.reset();
        say(area, 'success', `The passkey “${res.data.name}” was added.`);
        if (onAdded) onAdded(res.data);
        if (onChange) onChange();
        return;
      }
      sayProblem(area, res, { 409: 'This passkey is registered already.' });
    });

    showList();
    if (listProblem) sayProblem(area, listProblem);
    return h(
      'section',
      { class: 'card', id: 'passkeys-card', 'aria-labelledby': 'passkeys-title' },
      hx(level, { id: 'passkeys-title' }, 'Passkeys'),
      h('p', { class: 'muted' }, 'Sign in with your fingerprint, face, screen lock or a security key instead of a password. ' +
        'A passkey also counts as a second factor.'),
      area,
      box,
      canUsePasskeys()
        ? form
        : h('p', { class: 'muted', id: 'passkey-unavailable' }, 'This browser cannot make passkeys at this address.'),
    );
  }

  // Recovery codes: how many are left (as `factors` says, when it knows), and a new set (the
  // old one stops working), shown this once.
  function recoveryCard({ level, factors }) {
    const area = messageArea('recovery-messages');
    const status = h('p', { id: 'recovery-status', class: 'status-line' });
    const body = h('div', { id: 'recovery-body' });
    let renew = null;
    let confirmBox = null;
    const current = () => (factors ? factors.value : null);
    // Recovery codes come with a second factor: without one there is nothing to make.
    const canMake = () => !current() || hasSecondFactor(current());
    const left = () => (current() ? current().recovery_codes_left : null);
    const renewLabel = () => (left() === 0 ? 'Make recovery codes' : 'Make new recovery codes');

    function draw() {
      const f = current();
      status.replaceChildren();
      status.hidden = !f;
      if (f && !hasSecondFactor(f)) {
        status.append(h('span', { class: 'badge neutral' }, 'None'), ' They come with a second factor: set up an authenticator app or add a passkey first.');
      } else if (f && f.recovery_codes_left === 0) {
        status.append(h('span', { class: 'badge warn' }, 'None left'), ' Make a set, and keep it somewhere safe.');
      } else if (f) {
        const n = f.recovery_codes_left;
        const count = `${n} recovery ${n === 1 ? 'code' : 'codes'} left`;
        if (n <= 3) status.append(h('span', { class: 'badge warn' }, 'Running low'), ` ${count}: make a new set soon.`);
        else status.append(h('span', { class: 'badge' }, 'Ready'), ` ${count}.`);
      }
      // The button follows, unless a question or the new codes are showing.
      if (renew && renew.isConnected && confirmBox && !confirmBox.childNodes.length) {
        renew.hidden = !canMake();
        renew.textContent = renewLabel();
      }
    }

    function show() {
      renew = h('button', { type: 'button', class: 'secondary', id: 'recovery-renew' }, renewLabel());
      renew.hidden = !canMake();
      confirmBox = h('div', {});
      const box = confirmBox;
      const button = renew;
      button.addEventListener('click', () => {
        clear(area);
        const question = h('p', { tabindex: '-1' }, left() === 0 ? 'Make a set of ten recovery codes?'
          : 'Make a new set of recovery codes? The codes you have now stop working.');
        const yes = h('button', { type: 'button', id: 'recovery-renew-yes' }, 'Make new codes');
        const no = h('button', { type: 'button', class: 'secondary', id: 'recovery-renew-no' }, 'Cancel');
        no.addEventListener('click', () => {
          box.replaceChildren();
          button.hidden = false;
          button.focus();
        });
        yes.addEventListener('click', async () => {
          const res = await busy(yes, () => sensitive('POST', '/users/me/recovery_codes'));
          if (res.ended || res.cancelled) return;
          if (res.ok && res.data && Array.isArray(res.data.recovery_codes)) {
            say(area, 'success', 'A new set of recovery codes was made. The old codes no longer work.');
            body.replaceChildren(recoveryCodesView(res.data.recovery_codes, {
              level: level + 1,
              done: () => {
                clear(area);
                show();
                const next = body.querySelector('button:not([hidden])');
                if (next) next.focus();
              },
            }));
            body.querySelector('#recovery-codes-title').focus();
            if (factors) factors.refresh();
            return;
          }
          box.replaceChildren();
          button.hidden = false;
          sayProblem(area, res, { 409: 'Recovery codes come with a second factor: set up an authenticator app or add a passkey first.' });
          button.focus();
          if (factors && res.status === 409) factors.refresh();
        });
        button.hidden = true;
        box.replaceChildren(h('div', { class: 'confirm quiet', role: 'group', 'aria-label': 'Confirm new recovery codes' }, question, h('div', { class: 'actions' }, yes, no)));
        question.focus();
      });
      body.replaceChildren(h('div', { class: 'actions' }, button), box);
    }
    show();
    draw();
    if (factors) factors.watch(draw);
    return h(
      'section',
      { class: 'card', id: 'recovery-card', 'aria-labelledby': 'recovery-title' },
      hx(level, { id: 'recovery-title' }, 'Recovery codes'),
      h('p', { class: 'muted' }, 'Ten single-use codes for when you cannot use your app or your passkeys. ' +
        'You get a set when you set up an authenticator app; keep them safe.'),
      status,
      area,
      body,
    );
  }

  // ---------------------------------------------------------------------------------------
  // The enrolment page: a session that may only add a second factor (MFA_REQUIRED)

  function showEnrolment() {
    if (state.leaving) return;
    renderEnrolment(++state.renderId);
  }

  async function renderEnrolment(id) {
    if (id !== state.renderId) return;
    state.enrolling = true;
    state.me = null;
    renderNav();
    // What the account has so far: an app set-up started earlier, or a factor added meanwhile
    // (in another tab), which ends the enrolment.
    const mfa = await api('GET', '/users/me/mfa');
    if (id !== state.renderId) return;
    if (mfa.status === 401 || mfa.status === 403) {
      sessionEnded();
      return;
    }
    const factors = factorsOf(mfa);
    const page = messageArea('page-messages');
    const finish = () => {
      state.enrolling = false;
      state.me = null;
      render({ focus: true });
    };
    const next = h('div', { id: 'enrol-next' });
    const goOn = (text) => {
      const button = h('button', { type: 'button', id: 'enrol-continue' }, 'Continue');
      button.addEventListener('click', finish);
      next.replaceChildren(h('div', { class: 'card done' }, h('p', { class: 'message success' }, text), h('div', { class: 'actions' }, button)));
      button.focus();
    };
    setPage(
      'Add a second factor',
      h(
        'div',
        { class: 'page-head' },
        h(
          'div',
          {},
          heading('Add a second factor to continue'),
          h('p', { class: 'lead', id: 'enrol-lead' }, 'Your account needs a second factor here: something besides your password, ' +
            'asked for when you sign in. Add one of these to go on.'),
        ),
      ),
      page,
      next,
      h(
        'div',
        { class: 'grid' },
        totpCard({
          level: 2,
          initial: factors ? factors.totp : false,
          pending: Boolean(factors && factors.totp_pending),
          done: finish,
          doneLabel: 'I have saved them: continue',
        }),
        passkeysCard({ level: 2, list: [], onAdded: (p) => goOn(`The passkey “${p.name}” was added. You can now use sesame.`) }),
      ),
    );
    main.querySelector('h1').focus();
    if (hasSecondFactor(factors)) goOn('Your account has a second factor now. You can use sesame.');
  }

  // ---------------------------------------------------------------------------------------
  // Re-authentication: a sensitive action on a session whose credential is older than
  // REAUTH_MAX_AGE asks for the password (or a code, or a passkey) again, in a dialog.
  // Resolves true once sesame took it, false when dismissed.

  async function reauthenticate() {
    if (state.reauthOpen) return false;
    state.reauthOpen = true;
    const active = document.activeElement;
    const opener = active && active !== document.body ? active : state.busyButton;
    // Which ways to confirm this account has (unknown, null, if sesame does not say).
    const factors = factorsOf(await api('GET', '/users/me/mfa'));
    return new Promise((resolve) => {
      const me = state.me;
      const totp = factors ? factors.totp : null;
      const passkeyOk = canUsePasskeys() && Boolean(factors) && factors.passkeys > 0;
      let mode = 'password';
      const area = h('div', { class: 'messages', id: 'reauth-messages', role: 'alert' });
      const slot = h('div', {});
      const submit = h('button', { type: 'submit', id: 'reauth-submit' }, 'Confirm');
      const cancel = h('button', { type: 'button', class: 'secondary', id: 'reauth-cancel' }, 'Cancel');
      const toggle = h('button', { type: 'button', class: 'link-button', id: 'reauth-toggle' });
      const form = h(
        'form',
        { id: 'reauth-form', novalidate: true },
        me ? h('input', { type: 'text', name: 'username', autocomplete: 'username', value: me.email, hidden: true, 'aria-hidden': 'true', tabindex: '-1' }) : null,
        slot,
        h('div', { class: 'actions' }, submit, cancel),
      );
      const setMode = (next, focus) => {
        mode = next;
        slot.replaceChildren(
          mode === 'password'
            ? field('reauth-password', 'Password', { type: 'password', autocomplete: 'current-password', required: true })
            : field('reauth-code', 'Code from your authenticator app', {
              type: 'text', inputmode: 'numeric', autocomplete: 'one-time-code', required: true, spellcheck: 'false', autocapitalize: 'off',
            }),
        );
        toggle.textContent = mode === 'password' ? 'Use a code from your authenticator app instead' : 'Use your password instead';
        if (focus) slot.querySelector('input').focus();
      };
      setMode('password', false);
      toggle.addEventListener('click', () => {
        area.replaceChildren();
        setMode(mode === 'password' ? 'code' : 'password', true);
      });

      let passkey = null;
      if (passkeyOk) {
        passkey = h('button', { type: 'button', class: 'secondary', id: 'reauth-passkey' }, 'Use a passkey');
        passkey.addEventListener('click', async () => {
          area.replaceChildren();
          const r = await busy(passkey, async () => {
            const credential = await askPasskey('/auth_session/reauth/passkey/start', area, { 409: 'You have no passkey: use your password.' });
            if (!credential) return null;
            return api('POST', '/auth_session/reauth', { credential });
          });
          if (r) answer(r, 'passkey');
        });
      }

      const dialog = h(
        'dialog',
        { class: 'dialog', id: 'reauth-dialog', 'aria-labelledby': 'reauth-title', 'aria-describedby': 'reauth-lead' },
        h('h2', { id: 'reauth-title' }, 'Confirm it is you'),
        h('p', { id: 'reauth-lead' }, 'For your security, this change needs your password again.'),
        area,
        form,
        totp !== false || passkey ? h('div', { class: 'alt-links' }, totp !== false ? toggle : null, passkey) : null,
      );

      let settled = false;
      const finish = (ok) => {
        if (settled) return;
        settled = true;
        state.reauthOpen = false;
        if (dialog.open) dialog.close();
        dialog.remove();
        focusBack(opener);
        resolve(ok);
      };
      const answer = (r, kind) => {
        const err = errorOf(r);
        if (r.ok) {
          finish(true);
          return;
        }
        if ((r.status === 401 && err !== WRONG_CODE) || (r.status === 403 && err !== WRONG_PASSWORD)) {
          finish(false);
          sessionEnded();
          return;
        }
        const input = slot.querySelector('input');
        if (input) input.value = '';
        const [text, detail] = problem(r, {
          401: kind === 'passkey' ? 'That passkey was not accepted.' : 'That code is not right.',
          403: 'That password is not right.',
        });
        area.replaceChildren(h('p', { class: 'message error' }, text, detail ? h('span', { class: 'detail' }, detail) : null));
        if (input) input.focus();
      };
      cancel.addEventListener('click', () => finish(false));
      dialog.addEventListener('cancel', (event) => {
        event.preventDefault();
        finish(false);
      });
      form.addEventListener('submit', async (event) => {
        event.preventDefault();
        const input = slot.querySelector('input');
        const value = mode === 'password' ? input.value : input.value.replace(/\s+/g, '');
        if (!value) {
          area.replaceChildren(h('p', { class: 'message error' }, mode === 'password' ? 'Enter your password.' : 'Enter the code from your app.'));
          input.focus();
          return;
        }
        const body = mode === 'password' ? { password: value } : { code: value };
        const r = await busy(submit, () => api('POST', '/auth_session/reauth', body));
        answer(r, mode);
      });
      document.body.append(dialog);
      dialog.showModal();
      slot.querySelector('input').focus();
    });
  }

  // ---------------------------------------------------------------------------------------
  // My sessions

  async function renderSessions(id, notice) {
    const r = await call('GET', '/users/me/sessions');
    if (r.ended || id !== state.renderId) return;
    const page = messageArea('page-messages');
    const others = h('button', { type: 'button', class: 'danger-quiet', id: 'revoke-others' }, 'Sign out everywhere else');
    const head = h(
      'div',
      { class: 'page-head' },
      h('div', {}, heading('My sessions'), h('p', { class: 'lead' }, 'Where your account is signed in. Sign out any device you do not recognise.')),
      others,
    );
    if (!r.ok || !Array.isArray(r.data)) {
      others.hidden = true;
      setPage('My sessions', head, page);
      sayProblem(page, r);
      return;
    }
    const sessions = r.data.slice().sort((a, b) => {
      if (a.current !== b.current) return a.current ? -1 : 1;
      return String(b.last_seen_at || '').localeCompare(String(a.last_seen_at || ''));
    });
    const reload = (kind, text) => renderSessions(id, [kind, text]);
    others.disabled = !sessions.some((s) => !s.current);
    others.addEventListener('click', async () => {
      const res = await busy(others, () => call('DELETE', '/users/me/sessions'));
      if (res.ended) return;
      if (res.ok) reload('success', 'Every other session was signed out.');
      else sayProblem(page, res);
    });
    const items = sessions.map((s) => {
      const device = deviceName(s.user_agent);
      const title = h('h3', {}, device, s.current ? h('span', { class: 'badge' }, 'This device') : null);
      const meta = h(
        'dl',
        { class: 'session-meta' },
        h('div', {}, h('dt', {}, 'IP address'), h('dd', {}, s.ip || 'unknown')),
        h('div', {}, h('dt', {}, 'Signed in'), h('dd', {}, timeEl(s.created_at))),
        h('div', {}, h('dt', {}, 'Last seen'), h('dd', {}, timeEl(s.last_seen_at, true))),
        s.expires_at ? h('div', {}, h('dt', {}, 'Expires'), h('dd', {}, timeEl(s.expires_at))) : null,
      );
      let action = null;
      if (!s.current) {
        action = h(
          'button',
          { type: 'button', class: 'secondary small', 'aria-label': `Sign out ${device}${s.ip ? ` (${s.ip})` : ''}`, 'data-session': s.id },
          'Sign out',
        );
        action.addEventListener('click', async () => {
          const res = await busy(action, () => call('DELETE', `/users/me/sessions/${encodeURIComponent(s.id)}`));
          if (res.ended) return;
          if (res.ok) reload('success', `${device} was signed out.`);
          else if (res.status === 404) reload('info', 'That session had already ended.');
          else sayProblem(page, res);
        });
      }
      return h(
        'li',
        { class: 'session', 'data-current': s.current ? 'true' : 'false' },
        h('div', {}, title, meta),
        action,
      );
    });
    const count = sessions.length === 1 ? '1 active session' : `${sessions.length} active sessions`;
    setPage(
      'My sessions',
      head,
      page,
      h(
        'section',
        { class: 'card', 'aria-labelledby': 'sessions-title' },
        h('h2', { id: 'sessions-title' }, count),
        items.length
          ? h('ul', { class: 'session-list', id: 'session-list' }, items)
          : h('p', { class: 'muted' }, 'No active sessions.'),
      ),
    );
    if (notice) say(page, notice[0], notice[1]);
  }

  // ---------------------------------------------------------------------------------------
  // Users (administrators)

  async function renderUsers(id, params) {
    const q = (params.get('q') || '').trim();
    const pageNo = Math.max(1, Number.parseInt(params.get('page') || '1', 10) || 1);
    const query = new URLSearchParams({ q, page: String(pageNo), per_page: String(PER_PAGE) });
    if (!q) query.delete('q');
    const r = await call('GET', `/users?${query}`);
    if (r.ended || id !== state.renderId) return;
    const page = messageArea('page-messages');
    if (r.status === 403) {
      setPage(
        'Users',
        heading('Users'),
        h(
          'div',
          { class: 'card', id: 'admins-only' },
          h('h2', {}, 'Administrators only'),
          h('p', {}, 'This page is for administrators only, and your account is not an administrator. ' +
            'Ask an administrator if you need to manage users.'),
          h('p', {}, h('a', { href: '/account' }, 'Back to my account')),
        ),
      );
      return;
    }
    if (!r.ok || !Array.isArray(r.data)) {
      setPage('Users', heading('Users'), page);
      sayProblem(page, r);
      return;
    }
    const users = r.data;
    const totalHeader = Number.parseInt(r.headers.get('X-Total-Count') || '', 10);
    const paged = users.length <= PER_PAGE;
    const total = Number.isNaN(totalHeader) ? null : totalHeader;
    state.users = { q, page: pageNo, users, total };

    const go = (nextQ, nextPage) => {
      const p = new URLSearchParams();
      if (nextQ) p.set('q', nextQ);
      if (nextPage > 1) p.set('page', String(nextPage));
      const s = p.toString();
      navigate(`/admin/users${s ? `?${s}` : ''}`, { focus: false });
    };

    const panel = h('div', { id: 'user-panel' });
    const newButton = h('button', { type: 'button', id: 'new-user' }, 'New user');
    newButton.addEventListener('click', () => openCreate(panel, page, () => go(q, pageNo)));

    const search = h(
      'form',
      { class: 'toolbar', role: 'search', id: 'user-search-form' },
      field('user-search', 'Search users', { type: 'search', placeholder: 'Email or name', value: q, autocomplete: 'off', spellcheck: 'false' }),
      h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'secondary' }, 'Search'),
        q ? h('a', { href: '/admin/users', class: 'clear-search' }, 'Clear') : null),
    );
    search.addEventListener('submit', (event) => {
      event.preventDefault();
      go(search.elements['user-search'].value.trim(), 1);
    });

    const rows = users.map((u) => {
      const edit = h('button', { type: 'button', class: 'secondary small', 'aria-label': `Edit ${u.email}`, 'data-user': u.id }, 'Edit');
      edit.addEventListener('click', () => openEdit(panel, page, u, () => go(q, pageNo)));
      return h(
        'tr',
        { 'data-email': u.email },
        h('td', { 'data-label': 'Email', class: 'cell-email' }, u.email),
        h('td', { 'data-label': 'Name' }, fullName(u) || h('span', { class: 'muted' }, '—')),
        h('td', { 'data-label': 'Role' }, u.is_admin ? h('span', { class: 'badge' }, 'Administrator') : h('span', { class: 'badge neutral' }, 'User')),
        h('td', { 'data-label': 'Created' }, timeEl(u.created_at)),
        h('td', { class: 'cell-actions' }, edit),
      );
    });

    const first = users.length ? (pageNo - 1) * PER_PAGE + 1 : 0;
    const last = paged ? (pageNo - 1) * PER_PAGE + users.length : users.length;
    let summary;
    if (!users.length) summary = q ? `No users match “${q}”.` : 'No users.';
    else if (total !== null) summary = `Showing ${first}–${last} of ${total}`;
    else summary = `Showing ${first}–${last}`;
    const hasNext = total !== null ? pageNo * PER_PAGE < total : paged && users.length === PER_PAGE;
    const prev = h('button', { type: 'button', class: 'secondary small', id: 'page-prev' }, 'Previous');
    const next = h('button', { type: 'button', class: 'secondary small', id: 'page-next' }, 'Next');
    prev.disabled = pageNo <= 1;
    next.disabled = !hasNext;
    prev.addEventListener('click', () => go(q, pageNo - 1));
    next.addEventListener('click', () => go(q, pageNo + 1));

    setPage(
      'Users',
      h(
        'div',
        { class: 'page-head' },
        h('div', {}, heading('Users'), h('p', { class: 'lead' }, 'Everyone who can sign in to sesame.')),
        newButton,
      ),
      page,
      panel,
      h(
        'section',
        { class: 'card', 'aria-labelledby': 'users-title' },
        h('h2', { id: 'users-title', class: 'visually-hidden' }, 'User list'),
        search,
        users.length
          ? h(
            'div',
            { class: 'table-wrap' },
            h(
              'table',
              { class: 'users', id: 'users-table' },
              h('caption', { class: 'visually-hidden' }, q ? `Users matching “${q}”` : 'All users'),
              h(
                'thead',
                {},
                h(
                  'tr',
                  {},
                  h('th', { scope: 'col' }, 'Email'),
                  h('th', { scope: 'col' }, 'Name'),
                  h('th', { scope: 'col' }, 'Role'),
                  h('th', { scope: 'col' }, 'Created'),
                  h('th', { scope: 'col' }, h('span', { class: 'visually-hidden' }, 'Actions')),
                ),
              ),
              h('tbody', {}, rows),
            ),
          )
          : null,
        h(
          'div',
          { class: 'pager' },
          h('p', { class: 'muted', id: 'users-summary', 'aria-live': 'polite' }, summary),
          h('div', { class: 'actions' }, prev, next),
        ),
      ),
    );
    const flash = state.flash;
    state.flash = null;
    if (flash) say(page, flash[0], flash[1]);
  }

  function closePanel(panel, opener) {
    panel.replaceChildren();
    if (opener && opener.isConnected) opener.focus();
  }

  function openCreate(panel, page, refresh) {
    clear(page);
    const opener = document.getElementById('new-user');
    const area = messageArea('create-messages');
    const cancel = h('button', { type: 'button', class: 'secondary' }, 'Cancel');
    cancel.addEventListener('click', () => closePanel(panel, opener));
    const form = h(
      'form',
      { id: 'create-user-form', novalidate: true },
      field('new-email', 'Email', { type: 'email', autocomplete: 'off', required: true, spellcheck: 'false' }),
      h(
        'div',
        { class: 'row' },
        field('new-first-name', 'First name', { type: 'text', autocomplete: 'off' }),
        field('new-last-name', 'Last name', { type: 'text', autocomplete: 'off' }),
      ),
      field('new-password', 'Password', { type: 'password', autocomplete: 'new-password', required: true }, 'At least 8 characters. Share it safely; they can change it from their account page.'),
      checkbox('new-is-admin', 'Administrator (can manage every user)', false),
      h('div', { class: 'actions' }, h('button', { type: 'submit', id: 'create-user-submit' }, 'Create user'), cancel),
    );
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      const f = form.elements;
      const body = {
        email: f['new-email'].value.trim(),
        password: f['new-password'].value,
        first_name: f['new-first-name'].value.trim(),
        last_name: f['new-last-name'].value.trim(),
        is_admin: f['new-is-admin'].checked,
      };
      if (!body.email) return say(area, 'error', 'Enter an email address.');
      if (!body.password) return say(area, 'error', 'Enter a password.');
      const res = await busy(form.querySelector('button[type=submit]'), () => call('POST', '/users', body));
      if (res.ended) return;
      if (res.ok && res.data) {
        state.flash = ['success', `${res.data.email} was created.`];
        panel.replaceChildren();
        refresh();
        return;
      }
      sayProblem(area, res, {
        403: 'Only administrators can create users.',
        409: 'A user with this email already exists.',
      });
    });
    panel.replaceChildren(
      h(
        'section',
        { class: 'card panel', 'aria-labelledby': 'create-title' },
        h('h2', { id: 'create-title', tabindex: '-1' }, 'New user'),
        area,
        form,
      ),
    );
    form.elements['new-email'].focus();
  }

  function openEdit(panel, page, user, refresh) {
    clear(page);
    const opener = document.querySelector(`button[data-user="${CSS.escape(user.id)}"]`);
    const self = state.me && state.me.id === user.id;
    const area = messageArea('edit-messages');
    const close = h('button', { type: 'button', class: 'secondary' }, 'Close');
    close.addEventListener('click', () => closePanel(panel, opener));
    const form = h(
      'form',
      { id: 'edit-user-form', novalidate: true },
      h(
        'div',
        { class: 'row' },
        field('edit-first-name', 'First name', { type: 'text', autocomplete: 'off' }),
        field('edit-last-name', 'Last name', { type: 'text', autocomplete: 'off' }),
      ),
      checkbox('edit-is-admin', 'Administrator (can manage every user)', user.is_admin),
      h('div', { class: 'actions' }, h('button', { type: 'submit', id: 'edit-user-save' }, 'Save changes'), close),
    );
    form.elements['edit-first-name'].value = user.first_name || '';
    form.elements['edit-last-name'].value = user.last_name || '';
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      const f = form.elements;
      const body = {
        first_name: f['edit-first-name'].value.trim(),
        last_name: f['edit-last-name'].value.trim(),
        is_admin: f['edit-is-admin'].checked,
      };
      const res = await busy(form.querySelector('button[type=submit]'), () => call('PUT', `/users/${encodeURIComponent(user.id)}`, body));
      if (res.ended) return;
      if (res.ok && res.data) {
        if (self) state.me = res.data;
        state.flash = ['success', `${res.data.email} was saved.`];
        panel.replaceChildren();
        refresh();
        return;
      }
      sayProblem(area, res, { 404: 'This user no longer exists.' });
    });

    const revoke = h('button', { type: 'button', class: 'secondary', id: 'edit-user-revoke' }, 'Sign out all their sessions');
    revoke.addEventListener('click', async () => {
      const res = await busy(revoke, () => call('DELETE', `/users/${encodeURIComponent(user.id)}/sessions`));
      if (res.ended) return;
      if (res.ok) say(area, 'success', `Every session of ${user.email} was signed out.`);
      else sayProblem(area, res, { 404: 'This user no longer exists.' });
    });

    const confirmBox = h('div', { id: 'delete-confirm' });
    const resetMfa = h('button', { type: 'button', class: 'secondary', id: 'edit-user-reset-mfa' }, 'Reset second factors…');
    resetMfa.addEventListener('click', () => {
      clear(area);
      const question = h('p', { tabindex: '-1' }, `Reset the second factors of ${user.email}? Their authenticator app, passkeys ` +
        'and recovery codes are removed and their sessions end; they can then sign in with their password alone.');
      const yes = h('button', { type: 'button', class: 'danger', id: 'reset-mfa-confirm-yes' }, 'Reset second factors');
      const no = h('button', { type: 'button', class: 'secondary', id: 'reset-mfa-confirm-no' }, 'Cancel');
      const back = () => {
        confirmBox.replaceChildren();
        resetMfa.hidden = false;
        del.hidden = false;
      };
      no.addEventListener('click', () => {
        back();
        resetMfa.focus();
      });
      yes.addEventListener('click', async () => {
        const res = await busy(yes, () => sensitive('DELETE', `/users/${encodeURIComponent(user.id)}/mfa`));
        if (res.ended || res.cancelled) return;
        back();
        if (res.ok) say(area, 'success', `The second factors of ${user.email} were removed and their sessions signed out.`);
        else sayProblem(area, res, { 404: 'This user no longer exists.' });
        resetMfa.focus();
      });
      resetMfa.hidden = true;
      del.hidden = true;
      confirmBox.replaceChildren(h('div', { class: 'confirm', role: 'group', 'aria-label': 'Confirm second factor reset' }, question, h('div', { class: 'actions' }, yes, no)));
      question.focus();
    });
    const del = h('button', { type: 'button', class: 'danger-quiet', id: 'edit-user-delete' }, 'Delete user…');
    del.addEventListener('click', () => {
      const question = h('p', { tabindex: '-1' }, `Delete ${user.email}? Their account and sessions are removed. This cannot be undone.`);
      const yes = h('button', { type: 'button', class: 'danger', id: 'delete-confirm-yes' }, 'Delete user');
      const no = h('button', { type: 'button', class: 'secondary', id: 'delete-confirm-no' }, 'Keep user');
      no.addEventListener('click', () => {
        confirmBox.replaceChildren();
        del.hidden = false;
        del.focus();
      });
      yes.addEventListener('click', async () => {
        const res = await busy(yes, () => sensitive('DELETE', `/users/${encodeURIComponent(user.id)}`));
        if (res.ended || res.cancelled) return;
        if (res.ok || res.status === 404) {
          state.flash = res.ok ? ['success', `${user.email} was deleted.`] : ['info', `${user.email} no longer exists.`];
          panel.replaceChildren();
          refresh();
          return;
        }
        sayProblem(area, res);
      });
      del.hidden = true;
      confirmBox.replaceChildren(h('div', { class: 'confirm', role: 'group', 'aria-label': 'Confirm deletion' }, question, h('div', { class: 'actions' }, yes, no)));
      question.focus();
    });

    panel.replaceChildren(
      h(
        'section',
        { class: 'card panel', 'aria-labelledby': 'edit-title' },
        h('h2', { id: 'edit-title', tabindex: '-1' }, `Edit ${user.email}`),
        h(
          'dl',
          { class: 'facts' },
          h('dt', {}, 'Created'),
          h('dd', {}, timeEl(user.created_at)),
          h('dt', {}, 'Updated'),
          h('dd', {}, timeEl(user.updated_at)),
          h('dt', {}, 'ID'),
          h('dd', {}, h('code', {}, user.id)),
        ),
        h('hr', { class: 'divider' }),
        area,
        form,
        h('hr', { class: 'divider' }),
        self
          ? h('p', { class: 'muted' }, 'This is your own account: manage your sessions on ', h('a', { href: '/sessions' }, 'My sessions'), '.')
          : h('div', { class: 'actions' }, revoke, resetMfa, del),
        confirmBox,
      ),
    );
    panel.querySelector('h2').focus();
  }

  // ---------------------------------------------------------------------------------------
  // Start

  // One spelling per page: "/account/" (which the server also answers) becomes "/account".
  if (location.pathname.length > 1 && location.pathname.endsWith('/')) {
    const trimmed = location.pathname.replace(/\/+$/, '') || '/';
    history.replaceState(null, '', trimmed + location.search + location.hash);
  }

  // The token of a setup, reset or verification link leaves the address bar (and so the
  // history, and any screenshot or shared link) at once; it is kept in memory only.
  const TOKENS = { '/setup': 'setupToken', '/reset': 'resetToken', '/verify': 'verifyToken' };
  if (Object.hasOwn(TOKENS, location.pathname)) {
    const token = new URLSearchParams(location.search).get('token');
    if (token) state[TOKENS[location.pathname]] = token;
    if (location.search || location.hash) history.replaceState(null, '', location.pathname);
  }

  // Earlier builds kept a guess of whether the user had an authenticator app.
  try {
    localStorage.removeItem(OLD_TOTP_HINT);
  } catch (_) {
    /* storage may be off */
  }

  render();
})();
