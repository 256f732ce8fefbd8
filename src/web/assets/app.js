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
  const PER_PAGE = 20;
  const SITE = 'sesame';

  const state = {
    me: null, // the signed-in user, or null
    setupToken: null, // the first-run token, in memory only
    renderId: 0, // the current render; async work from older renders is dropped
    users: null, // the admin users page's data
    leaving: false, // a full page navigation is under way
  };

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
    if (button) button.disabled = true;
    try {
      return await work();
    } finally {
      if (button) button.disabled = false;
    }
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
  // goes to sign-in. The answer is returned otherwise; `ended` says the page is leaving.
  async function call(method, path, body) {
    const r = await api(method, path, body);
    if (r.status === 401) {
      sessionEnded();
      return { ...r, ended: true };
    }
    if (r.status === 403 && path !== '/users/me') {
      const me = await api('GET', '/users/me');
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
    state.users = null;
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
      const changed = !state.me || state.me.id !== r.data.id;
      state.me = r.data;
      if (changed) render();
      else renderNav();
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
  const PAGES = new Set(['/', '/signin', '/setup', ...PRIVATE]);

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
    if (PAGES.has(path) && path !== '/signin' && path !== '/setup') navigate(rd, { replace: true });
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
    if (!me) {
      nav.hidden = true;
      nav.replaceChildren();
      return;
    }
    const here = location.pathname;
    const link = (href, text) =>
      h('li', {}, h('a', { href, 'aria-current': here === href ? 'page' : null }, text));
    const signOutButton = h('button', { type: 'button', class: 'secondary small', id: 'sign-out' }, 'Sign out');
    signOutButton.addEventListener('click', () => signOut(signOutButton));
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
        markSignedIn();
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
    renderNav();
    const area = renderSignInForm(params, true);
    if (params.get('ended') === '1') {
      say(area, 'info', 'Your session has ended. Please sign in again.');
      return;
    }
    // Already signed in (a bookmark, or a second tab): go on at once.
    if (!hadSession()) return;
    const r = await api('GET', '/users/me');
    if (id !== state.renderId || !r.ok || !r.data) return;
    state.me = r.data;
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
        say(area, 'error', 'This account needs a second factor, which this page cannot ask for yet.');
        return;
      }
      if (r.ok && r.data) {
        form.elements.password.value = '';
        state.me = r.data;
        markSignedIn();
        goAfterSignIn(params);
        return;
      }
      form.elements.password.value = '';
      sayProblem(area, r, { 401: 'Wrong email or password.' });
      form.elements.password.focus();
    });
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
        ),
      ),
    );
    return area;
  }

  // ---------------------------------------------------------------------------------------
  // First-run setup

  function renderSetup() {
    state.me = null;
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
        h('div', {}, heading('My account'), h('p', { class: 'lead' }, 'Your profile and your password.')),
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
    );
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
        const res = await busy(yes, () => call('DELETE', `/users/${encodeURIComponent(user.id)}`));
        if (res.ended) return;
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
          : h('div', { class: 'actions' }, revoke, del),
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

  // The setup token leaves the address bar (and so the history, and any screenshot or shared
  // link) at once; it is kept in memory only.
  if (location.pathname === '/setup') {
    const token = new URLSearchParams(location.search).get('token');
    if (token) state.setupToken = token;
    if (location.search || location.hash) history.replaceState(null, '', '/setup');
  }

  render();
})();
