// Browser tests of sesame's web front, against the real binary on a fresh SQLite database.
//
// SESAME_BIN names the binary. The browser is Debian's Chromium (CHROMIUM_PATH, default
// /usr/bin/chromium) driven by playwright-core, which never downloads a browser of its own.
// Every page is checked with axe-core (no serious or critical violation), at 1280x800 and at
// 360x740 (no horizontal scroll), and photographed into target/screenshots/. Any Content
// Security Policy violation, and any uncaught script error, fails the scenario it happens in.
// The server's log is left in target/browser-tests-sesame.log. The mail scenarios run a
// server of their own whose mail goes to a small SMTP sink in this file.
'use strict';

const { test, before, after, afterEach } = require('node:test');
const assert = require('node:assert/strict');
const { spawn } = require('node:child_process');
const crypto = require('node:crypto');
const { EventEmitter } = require('node:events');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const readline = require('node:readline');
const { chromium } = require('playwright-core');

const REPO = path.resolve(__dirname, '..', '..');
const SHOTS = path.join(REPO, 'target', 'screenshots');
const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const AXE = fs.readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
const COOKIE = '_my_session_id';

const DESKTOP = { width: 1280, height: 800 };
const PHONE = { width: 360, height: 740 };
const ANDROID_UA =
  'Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) ' +
  'Chrome/126.0.0.0 Mobile Safari/537.36';
const WINDOWS_FIREFOX_UA = 'Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0';
const IPHONE_UA =
  'Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 ' +
  '(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1';

const ADMIN = { email: 'ada@example.com', password: 'correct horse battery', first: 'Ada', last: 'Lovelace' };
const ADMIN_NEW_PASSWORD = 'a brand new passphrase';
const BOB = { email: 'bob@example.com', password: 'bob passphrase 1', first: 'Bob', last: 'Marley' };
const DORA = { email: 'dora@example.com', password: 'dora passphrase 1', first: 'Dora', last: 'Maar' };
const ERIN = { email: 'erin@example.com', password: 'erin passphrase 1', first: 'Erin', last: 'Brockovich' };
const STRICT_ADMIN = { email: 'sam@example.com', password: 'sam passphrase 1', first: 'Sam', last: 'Strict' };
const FRIDA = { email: 'frida@example.com', password: 'frida passphrase 1', first: 'Frida', last: 'Kahlo' };
const FRIDA_NEW_PASSWORD = 'frida passphrase 2';
const NOBODY = 'nobody@example.com';

let server; // { proc, base, setupUrl, log, dir }
const extraServers = []; // more servers, with other settings (MFA_REQUIRED, mail)
const sinks = []; // SMTP sinks
let browser;
const contexts = [];
const cspViolations = [];
const pageErrors = [];
const checkedPages = []; // names of pages checked with axe

// ---------------------------------------------------------------------------------------------
// The server

// `settings`: more environment variables (MFA_REQUIRED, REAUTH_MAX_AGE, ...).
function startServer(settings = {}) {
  const bin = process.env.SESAME_BIN;
  assert.ok(bin, 'SESAME_BIN must name the sesame binary');
  assert.ok(fs.existsSync(bin), `SESAME_BIN=${bin} does not exist`);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sesame-browser-'));
  // A clean environment: nothing of the caller's configuration leaks in.
  const env = {
    PATH: process.env.PATH || '/usr/bin:/bin',
    API_HOST: '127.0.0.1',
    API_PORT: '0',
    DATABASE_URL: `sqlite://${dir}/sesame.db`,
    AUTH_TYPE: 'session_db_auth',
    LOG_FORMAT: 'json',
    RUST_LOG: 'info',
    ...settings,
  };
  const proc = spawn(bin, ['serve'], { env, stdio: ['ignore', 'ignore', 'pipe'] });
  const log = [];
  return new Promise((resolve, reject) => {
    let base = null;
    let setupUrl = null;
    let listenedAt = 0;
    const fail = (why) => {
      clearTimeout(timer);
      clearInterval(poll);
      proc.kill('SIGKILL');
      reject(new Error(`${why}\n--- server log ---\n${log.join('\n')}`));
    };
    const done = () => {
      clearTimeout(timer);
      clearInterval(poll);
      resolve({ proc, base, setupUrl, log, dir });
    };
    const timer = setTimeout(() => fail('sesame did not start within 20 s'), 20000);
    // The setup link is logged just after "sesame listening"; give it a moment.
    const poll = setInterval(() => {
      if (base && !setupUrl && Date.now() - listenedAt > 5000) {
        fail('sesame is listening but logged no setup_url (the first-run setup link)');
      }
    }, 100);
    proc.on('exit', (code, signal) => {
      if (!setupUrl) fail(`sesame exited early (code ${code}, signal ${signal})`);
    });
    readline.createInterface({ input: proc.stderr }).on('line', (line) => {
      log.push(line);
      let event;
      try {
        event = JSON.parse(line);
      } catch (_) {
        return;
      }
      const fields = { ...event, ...(event.fields || {}) };
      if (fields.message === 'sesame listening' && fields.addr) {
        base = `http://${fields.addr}`;
        listenedAt = Date.now();
      }
      if (fields.setup_url) setupUrl = fields.setup_url;
      if (base && setupUrl) done();
    });
  });
}

function stopServer(srv = server) {
  if (!srv || srv.proc.exitCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const kill = setTimeout(() => srv.proc.kill('SIGKILL'), 5000);
    srv.proc.once('exit', () => {
      clearTimeout(kill);
      resolve();
    });
    srv.proc.kill('SIGTERM');
  });
}

// Passkeys need a secure context whose host is the relying party id, `localhost` by default
// (WEBAUTHN_ORIGIN defaults to http://localhost:<port>): such scenarios browse
// http://localhost:<port>, whose cookies are not those of 127.0.0.1.
function localhostOf(base) {
  const url = new URL(base);
  url.hostname = 'localhost';
  return url.origin;
}

// ---------------------------------------------------------------------------------------------
// The browser

async function newContext(viewport = DESKTOP, options = {}) {
  const context = await browser.newContext({
    viewport,
    baseURL: server.base,
    locale: 'en-GB',
    timezoneId: 'Europe/Paris',
    ...options,
  });
  await context.exposeBinding('__sesameCsp', (_source, text) => cspViolations.push(text));
  await context.addInitScript(() => {
    document.addEventListener('securitypolicyviolation', (e) => {
      window.__sesameCsp(`${e.violatedDirective} blocked ${e.blockedURI || 'inline'} at ${e.sourceFile}:${e.lineNumber}`);
    });
  });
  context.on('page', watch);
  contexts.push(context);
  return context;
}

function watch(page) {
  page.on('console', (msg) => {
    if (/Content[- ]Security[- ]Policy/i.test(msg.text())) cspViolations.push(`console: ${msg.text()}`);
  });
  page.on('pageerror', (err) => pageErrors.push(`${page.url()}: ${err.message}`));
}

async function newPage(viewport, options) {
  const context = await newContext(viewport, options);
  const page = await context.newPage();
  return { context, page };
}

function pathOf(page) {
  return new URL(page.url()).pathname;
}

// axe-core, evaluated through the DevTools protocol (a <script> tag would be refused by the
// page's CSP, as it should be): no serious or critical violation.
async function axe(page, name) {
  await page.evaluate(AXE);
  const violations = await page.evaluate(async () => {
    const result = await window.axe.run(document, { resultTypes: ['violations'] });
    return result.violations.map((v) => ({
      id: v.id,
      impact: v.impact,
      help: v.help,
      nodes: v.nodes.slice(0, 3).map((n) => n.target.join(' ')),
    }));
  });
  const bad = violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  assert.deepEqual(bad, [], `${name}: accessibility violations:\n${JSON.stringify(bad, null, 2)}`);
  checkedPages.push(name);
}

async function shot(page, name) {
  const size = page.viewportSize();
  const kind = size.width <= 400 ? 'phone' : 'desktop';
  fs.mkdirSync(SHOTS, { recursive: true });
  await page.screenshot({ path: path.join(SHOTS, `${name}-${kind}.png`), fullPage: true });
  if (kind === 'phone') {
    const width = await page.evaluate(() => document.documentElement.scrollWidth);
    assert.ok(width <= size.width, `${name} scrolls sideways at ${size.width} px (scrollWidth ${width})`);
  }
}

// Axe, the screenshot and, on a phone, the width check, with the page settled.
async function check(page, name) {
  await page.waitForLoadState('networkidle');
  await axe(page, `${name} (${page.viewportSize().width} px)`);
  await shot(page, name);
}

async function messageOf(page, selector) {
  const area = page.locator(selector);
  await area.locator('.message').waitFor();
  return (await area.textContent()).trim();
}

// Clicks `button` and answers the message that then appears in `area` (emptied first, so an
// earlier message is never mistaken for the answer).
async function submit(page, button, area) {
  await page.locator(area).evaluate((el) => el.replaceChildren());
  await page.click(button);
  return messageOf(page, area);
}

async function signIn(page, user, password = user.password) {
  await page.goto('/signin');
  await page.locator('#signin-form').waitFor();
  await page.fill('#email', user.email);
  await page.fill('#password', password);
  await page.click('#signin-submit');
  await page.waitForURL('**/account');
  await page.locator('#account-email').waitFor();
}

async function bodyText(page) {
  return page.evaluate(() => document.body.innerText);
}

// Both sizes of the page as it is now: desktop, then phone, then back.
async function checkBoth(page, name) {
  const size = page.viewportSize();
  await page.setViewportSize(DESKTOP);
  await check(page, name);
  await page.setViewportSize(PHONE);
  await check(page, name);
  await page.setViewportSize(size);
}

// A user made by an administrator's page, through the API with its cookie.
async function createUser(adminPage, user) {
  const r = await adminPage.request.post('/api/v1/users', {
    data: { email: user.email, password: user.password, first_name: user.first, last_name: user.last },
  });
  assert.equal(r.status(), 201, `creating ${user.email}: ${await r.text()}`);
}

// Chromium's virtual authenticator (DevTools protocol): a platform authenticator holding
// discoverable credentials, which verifies the user and answers at once.
async function addAuthenticator(context, page) {
  const cdp = await context.newCDPSession(page);
  await cdp.send('WebAuthn.enable');
  const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
    options: {
      protocol: 'ctap2',
      transport: 'internal',
      hasResidentKey: true,
      hasUserVerification: true,
      isUserVerified: true,
      automaticPresenceSimulation: true,
    },
  });
  return { cdp, authenticatorId };
}

// RFC 6238 TOTP (SHA-1, 6 digits, 30 s steps) of a base32 secret, at `time` (ms).
function base32Decode(text) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = 0;
  let value = 0;
  const out = [];
  for (const c of text.replace(/[\s=]/g, '').toUpperCase()) {
    const i = alphabet.indexOf(c);
    assert.ok(i >= 0, `not base32: ${text}`);
    value = (value << 5) | i;
    bits += 5;
    if (bits >= 8) {
      out.push((value >>> (bits - 8)) & 0xff);
      bits -= 8;
    }
  }
  return Buffer.from(out);
}

function totp(secret, time = Date.now()) {
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(time / 1000 / 30)));
  const mac = crypto.createHmac('sha1', base32Decode(secret)).update(counter).digest();
  const offset = mac[mac.length - 1] & 0x0f;
  return String((mac.readUInt32BE(offset) & 0x7fffffff) % 1000000).padStart(6, '0');
}

// A code of another time, certainly not the one of now (nor of the steps next to it).
function wrongCode(secret) {
  const near = new Set([-1, 0, 1, 2].map((k) => totp(secret, Date.now() + k * 30000)));
  for (let k = 100; ; k += 1) {
    const code = totp(secret, Date.now() - k * 30000);
    if (!near.has(code)) return code;
  }
}

// ---------------------------------------------------------------------------------------------
// Mail: an SMTP sink, just enough SMTP for sesame's sender, keeping every message

// A port free just now on 127.0.0.1 (for a server that must know its own address first).
function freePort() {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.unref();
    probe.on('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address();
      probe.close(() => resolve(port));
    });
  });
}

// Header lines unfolded, by lower-case name.
function mailHeaders(block) {
  const headers = {};
  for (const line of block.replace(/\r\n[ \t]+/g, ' ').split('\r\n')) {
    const colon = line.indexOf(':');
    if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  return headers;
}

function decodeQuotedPrintable(text) {
  const soft = text.replace(/=\r?\n/g, '');
  const bytes = [];
  for (let i = 0; i < soft.length; i += 1) {
    const hex = soft.slice(i + 1, i + 3);
    if (soft[i] === '=' && /^[0-9A-Fa-f]{2}$/.test(hex)) {
      bytes.push(Number.parseInt(hex, 16));
      i += 2;
    } else {
      bytes.push(...Buffer.from(soft[i], 'utf8'));
    }
  }
  return Buffer.from(bytes).toString('utf8');
}

// The decoded text of a MIME entity: of each of its parts, for a multipart one.
function mimeText(entity) {
  const split = entity.indexOf('\r\n\r\n');
  const headers = mailHeaders(split < 0 ? entity : entity.slice(0, split));
  const body = split < 0 ? '' : entity.slice(split + 4);
  const type = headers['content-type'] || 'text/plain';
  const boundary = /boundary="?([^";]+)"?/i.exec(type);
  if (/^multipart\//i.test(type) && boundary) {
    return body
      .split(`--${boundary[1]}`)
      .slice(1)
      .filter((part) => !part.startsWith('--'))
      .map((part) => mimeText(part.replace(/^\r\n/, '')))
      .join('\n');
  }
  const encoding = (headers['content-transfer-encoding'] || '7bit').toLowerCase();
  if (encoding === 'base64') return Buffer.from(body.replace(/\s+/g, ''), 'base64').toString('utf8');
  if (encoding === 'quoted-printable') return decodeQuotedPrintable(body);
  return body;
}

// An SMTP server on 127.0.0.1 that accepts every message: `messages` (envelope, subject and
// decoded text), and a 'message' event for each.
function startSmtpSink() {
  const messages = [];
  const events = new EventEmitter();
  const sockets = new Set();
  const address = (line) => {
    const m = /<([^>]*)>/.exec(line);
    return (m ? m[1] : line.replace(/^[A-Z ]+:/i, '')).trim().toLowerCase();
  };
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    socket.setEncoding('utf8');
    const reply = (text) => socket.write(`${text}\r\n`);
    let buffer = '';
    let envelope = { from: null, to: [] };
    let data = null; // the lines of a message, while DATA reads them
    reply('220 sink ESMTP');
    socket.on('data', (chunk) => {
      buffer += chunk;
      for (let end = buffer.indexOf('\r\n'); end >= 0; end = buffer.indexOf('\r\n')) {
        const line = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        if (data) {
          if (line === '.') {
            const raw = data.join('\r\n');
            const split = raw.indexOf('\r\n\r\n');
            const message = {
              from: envelope.from,
              to: envelope.to,
              subject: mailHeaders(split < 0 ? raw : raw.slice(0, split)).subject || '',
              raw,
              text: mimeText(raw),
              taken: false,
            };
            data = null;
            envelope = { from: null, to: [] };
            messages.push(message);
            reply('250 OK');
            events.emit('message', message);
          } else {
            data.push(line.startsWith('.') ? line.slice(1) : line); // dot-stuffing
          }
          continue;
        }
        const verb = line.slice(0, 4).toUpperCase();
        if (verb === 'EHLO') socket.write('250-sink\r\n250 8BITMIME\r\n');
        else if (verb === 'HELO') reply('250 sink');
        else if (verb === 'MAIL') {
          envelope = { from: address(line), to: [] };
          reply('250 OK');
        } else if (verb === 'RCPT') {
          envelope.to.push(address(line));
          reply('250 OK');
        } else if (verb === 'RSET') {
          envelope = { from: null, to: [] };
          reply('250 OK');
        } else if (verb === 'NOOP') reply('250 OK');
        else if (verb === 'DATA') {
          data = [];
          reply('354 End data with <CR><LF>.<CR><LF>');
        } else if (verb === 'QUIT') {
          reply('221 Bye');
          socket.end();
        } else reply('502 Command not implemented');
      }
    });
  });
  return new Promise((resolve, reject) => {
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const sink = {
        port: server.address().port,
        messages,
        events,
        close: () => new Promise((done) => {
          for (const socket of sockets) socket.destroy();
          server.close(() => done());
        }),
      };
      sinks.push(sink);
      resolve(sink);
    });
  });
}

// The first mail to `to` not taken yet, as soon as it arrives (the outbox sends within about
// a second); fails after `timeout` ms.
function nextMail(sink, to, timeout = 10000) {
  const take = () => {
    const found = sink.messages.find((m) => !m.taken && m.to.includes(to.toLowerCase()));
    if (found) found.taken = true;
    return found;
  };
  return new Promise((resolve, reject) => {
    const ready = take();
    if (ready) {
      resolve(ready);
      return;
    }
    const onMessage = () => {
      const found = take();
      if (!found) return;
      clearTimeout(timer);
      sink.events.off('message', onMessage);
      resolve(found);
    };
    const timer = setTimeout(() => {
      sink.events.off('message', onMessage);
      const seen = sink.messages.map((m) => `${m.to.join(',')}: ${m.subject}`).join('; ') || 'none';
      reject(new Error(`no mail to ${to} within ${timeout} ms (mails so far: ${seen})`));
    }, timeout);
    sink.events.on('message', onMessage);
  });
}

// The link to `base`/`page`?token=... in a mail.
function linkIn(mail, base, page) {
  const escaped = base.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const m = new RegExp(`${escaped}/${page}\\?token=[A-Za-z0-9_-]+`).exec(mail.text);
  assert.ok(m, `no ${page} link in the mail "${mail.subject}":\n${mail.text}`);
  return m[0];
}

// ---------------------------------------------------------------------------------------------

before(async () => {
  assert.ok(fs.existsSync(CHROMIUM), `no Chromium at ${CHROMIUM} (apt-get install chromium)`);
  server = await startServer();
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update'],
  });
});

after(async () => {
  for (const context of contexts) await context.close().catch(() => {});
  if (browser) await browser.close().catch(() => {});
  for (const sink of sinks) await sink.close();
  for (const [i, srv] of extraServers.entries()) {
    await stopServer(srv);
    fs.mkdirSync(path.join(REPO, 'target'), { recursive: true });
    fs.writeFileSync(path.join(REPO, 'target', `browser-tests-sesame-${i + 2}.log`), `${srv.log.join('\n')}\n`);
    fs.rmSync(srv.dir, { recursive: true, force: true });
  }
  await stopServer();
  if (server) {
    // The server's log, for a failed run.
    fs.mkdirSync(path.join(REPO, 'target'), { recursive: true });
    fs.writeFileSync(path.join(REPO, 'target', 'browser-tests-sesame.log'), `${server.log.join('\n')}\n`);
    fs.rmSync(server.dir, { recursive: true, force: true });
  }
});

// Each scenario fails on the violations and script errors that happened during it.
afterEach(() => {
  assert.deepEqual(cspViolations.splice(0), [], 'Content Security Policy violations');
  assert.deepEqual(pageErrors.splice(0), [], 'uncaught script errors');
});

const state = {}; // contexts and pages shared between the scenarios, in order

test('the setup link creates the first administrator and lands signed in', async () => {
  assert.match(server.setupUrl, /^http:\/\/127\.0\.0\.1:\d+\/setup\?token=[0-9a-f]{64}$/);
  assert.equal(new URL(server.setupUrl).origin, server.base);

  // The setup page, on a phone: the token leaves the address bar at once.
  const phone = await newPage(PHONE);
  await phone.page.goto(server.setupUrl);
  await phone.page.locator('#setup-form').waitFor();
  assert.equal(phone.page.url(), `${server.base}/setup`);
  assert.equal(await phone.page.title(), 'First-run setup · sesame');
  await check(phone.page, 'setup');
  await phone.context.close();

  const { context, page } = await newPage(DESKTOP);
  await page.goto(server.setupUrl);
  await page.locator('#setup-form').waitFor();
  assert.equal(page.url(), `${server.base}/setup`, 'the token is removed from the address bar');
  assert.ok(!(await page.evaluate(() => location.href)).includes('token'));
  await check(page, 'setup');

  // Mismatched passwords are caught in the page.
  await page.fill('#email', ADMIN.email);
  await page.fill('#first_name', ADMIN.first);
  await page.fill('#last_name', ADMIN.last);
  await page.fill('#password', ADMIN.password);
  await page.fill('#password_confirm', 'something else');
  await page.click('#setup-submit');
  assert.match(await messageOf(page, '#setup-messages'), /do not match/);

  await page.fill('#password_confirm', ADMIN.password);
  const [resp] = await Promise.all([
    page.waitForResponse((r) => r.url().endsWith('/api/v1/setup')),
    page.click('#setup-submit'),
  ]);
  assert.equal(resp.status(), 201);
  await page.waitForURL('**/account');
  await page.locator('#account-email').waitFor();
  assert.equal(await page.textContent('#account-email'), ADMIN.email);
  assert.equal(await page.textContent('#account-role'), 'Administrator');
  assert.equal(await page.textContent('#nav-email'), ADMIN.email);
  assert.equal(await page.title(), 'My account · sesame');
  await page.locator('nav a[href="/admin/users"]').waitFor();

  // The session cookie exists, is HttpOnly, and scripts cannot read it.
  const cookies = await context.cookies();
  const session = cookies.find((c) => c.name === COOKIE);
  assert.ok(session, 'the setup answer set the session cookie');
  assert.equal(session.httpOnly, true);
  assert.equal(session.sameSite, 'Lax');
  const visible = await page.evaluate(() => document.cookie);
  assert.ok(!visible.includes(COOKIE), `document.cookie shows the session: ${visible}`);
  await check(page, 'account');
  state.admin = { context, page };

  // The link is single use: a second visit explains and points to sign-in.
  const again = await newPage(DESKTOP);
  await again.page.goto(server.setupUrl);
  await again.page.fill('#email', 'mallory@example.com');
  await again.page.fill('#password', 'mallory passphrase');
  await again.page.fill('#password_confirm', 'mallory passphrase');
  await again.page.click('#setup-submit');
  assert.match(await messageOf(again.page, '#setup-messages'), /setup link is not valid/);
  await again.page.locator('main a[href="/signin"]').waitFor();
  await again.context.close();
});

test('sign in: a wrong password is refused, the keyboard alone signs in', async () => {
  const { page } = await newPage(DESKTOP, { userAgent: IPHONE_UA });
  await page.goto('/signin');
  await page.locator('#signin-form').waitFor();
  assert.equal(await page.title(), 'Sign in · sesame');
  await check(page, 'signin');

  await page.fill('#email', ADMIN.email);
  await page.fill('#password', 'not the password');
  await page.click('#signin-submit');
  assert.equal(await messageOf(page, '#signin-messages'), 'Wrong email or password.');
  assert.equal(pathOf(page), '/signin');

  // Keyboard only: Tab reaches email, password and the button, in that order; Enter submits.
  await page.reload();
  await page.locator('#signin-form').waitFor();
  const focused = () => page.evaluate(() => document.activeElement && document.activeElement.id);
  let presses = 0;
  while ((await focused()) !== 'email') {
    await page.keyboard.press('Tab');
    presses += 1;
    assert.ok(presses <= 6, 'Tab never reached the email field');
  }
  await page.keyboard.type(ADMIN.email);
  await page.keyboard.press('Tab');
  assert.equal(await focused(), 'password');
  await page.keyboard.type(ADMIN.password);
  await page.keyboard.press('Tab');
  assert.equal(await focused(), 'signin-submit');
  // A visible focus indicator on the button.
  const outline = await page.evaluate(() => getComputedStyle(document.activeElement).outlineStyle);
  assert.notEqual(outline, 'none', 'the focused button shows an outline');
  await page.keyboard.press('Enter');
  await page.waitForURL('**/account');
  assert.equal(await page.textContent('#account-email'), ADMIN.email);
  state.second = { page };

  const phone = await newPage(PHONE, { userAgent: ANDROID_UA });
  await phone.page.goto('/signin');
  await phone.page.locator('#signin-form').waitFor();
  await check(phone.page, 'signin');
  // The phone signs in too, for the private pages at 360 px.
  await signIn(phone.page, ADMIN);
  state.phone = phone;
});

test('sign in goes to ?rd= only for a same-origin path', async () => {
  const { page } = await newPage(DESKTOP, { userAgent: WINDOWS_FIREFOX_UA });
  await page.goto('/signin?rd=%2Fsessions');
  await page.fill('#email', ADMIN.email);
  await page.fill('#password', ADMIN.password);
  await page.click('#signin-submit');
  await page.waitForURL('**/sessions');
  for (const rd of ['//evil.example/x', 'https://evil.example/', '/\\evil.example', '/\t/evil.example']) {
    await page.click('#sign-out');
    await page.waitForURL('**/signin');
    await page.goto(`/signin?rd=${encodeURIComponent(rd)}`);
    await page.fill('#email', ADMIN.email);
    await page.fill('#password', ADMIN.password);
    await page.click('#signin-submit');
    await page.waitForURL('**/account');
    assert.equal(new URL(page.url()).origin, server.base, `rd=${rd}`);
  }
  // This browser stays signed in: one more device on the sessions page.
});

test('my names are edited and stay after a reload', async () => {
  const { page } = state.admin;
  await page.fill('#first_name', 'Augusta Ada');
  await page.fill('#last_name', 'King');
  await page.click('#profile-save');
  assert.equal(await messageOf(page, '#profile-messages'), 'Your name was saved.');
  await page.reload();
  await page.locator('#account-name').waitFor();
  assert.equal(await page.inputValue('#first_name'), 'Augusta Ada');
  assert.equal(await page.inputValue('#last_name'), 'King');
  assert.equal(await page.textContent('#account-name'), 'Augusta Ada King');
});

test('a session revoked from the sessions page is sent to sign-in on its next action', async () => {
  const { page } = state.admin;
  // A session from a script, for the device names.
  const curl = await fetch(`${server.base}/api/v1/auth_session/login`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', 'User-Agent': 'curl/8.5.0' },
    body: JSON.stringify({ email: ADMIN.email, password: ADMIN.password }),
  });
  assert.equal(curl.status, 200);
  await page.click('nav a[href="/sessions"]');
  await page.waitForURL('**/sessions');
  await page.locator('#session-list').waitFor();
  assert.equal(await page.title(), 'My sessions · sesame');
  const current = page.locator('.session[data-current="true"]');
  assert.equal(await current.count(), 1);
  assert.match(await current.textContent(), /This device/);
  assert.match(await current.textContent(), /Chrome on Linux/);
  const iphone = page.locator('.session', { hasText: 'Safari on iPhone' });
  assert.equal(await iphone.count(), 1, 'the second context shows as Safari on iPhone');
  assert.match(await iphone.textContent(), /127\.0\.0\.1/);
  for (const device of ['Chrome on Android', 'Firefox on Windows', 'curl']) {
    await page.locator('.session h3', { hasText: device }).first().waitFor();
  }
  await check(page, 'sessions');

  await iphone.getByRole('button', { name: /Sign out Safari on iPhone/ }).click();
  assert.match(await messageOf(page, '#page-messages'), /Safari on iPhone was signed out/);
  await page.locator('.session', { hasText: 'Safari on iPhone' }).waitFor({ state: 'detached' });

  // The revoked browser: its next action lands on sign-in with the message, nothing broken.
  const second = state.second.page;
  await second.click('nav a[href="/sessions"]');
  await second.waitForURL(/\/signin\?ended=1/);
  assert.equal(await messageOf(second, '#signin-messages'), 'Your session has ended. Please sign in again.');
  assert.ok(!(await bodyText(second)).includes(ADMIN.email));
  // And a reload of a private page says the same.
  await signIn(second, ADMIN);
  await page.reload();
  await page.locator('#session-list').waitFor();
  await page.click('#revoke-others');
  assert.match(await messageOf(page, '#page-messages'), /Every other session was signed out/);
  await second.reload();
  await second.waitForURL(/\/signin\?ended=1/);
  assert.equal(await messageOf(second, '#signin-messages'), 'Your session has ended. Please sign in again.');
});

test('changing the password: the old one then fails, the new one works', async () => {
  const { page } = state.admin;
  await page.click('nav a[href="/account"]');
  await page.locator('#password-form').waitFor();
  await page.fill('#current_password', 'not my password');
  await page.fill('#new_password', ADMIN_NEW_PASSWORD);
  await page.fill('#new_password_confirm', ADMIN_NEW_PASSWORD);
  assert.equal(await submit(page, '#password-save', '#password-messages'), 'The current password is wrong.');

  await page.fill('#current_password', ADMIN.password);
  await page.fill('#new_password', 'short');
  await page.fill('#new_password_confirm', 'short');
  const policy = await submit(page, '#password-save', '#password-messages');
  assert.match(policy, /8/, `the policy message says what is needed: ${policy}`);

  await page.fill('#current_password', ADMIN.password);
  await page.fill('#new_password', ADMIN_NEW_PASSWORD);
  await page.fill('#new_password_confirm', ADMIN_NEW_PASSWORD);
  assert.match(await submit(page, '#password-save', '#password-messages'), /password was changed/);
  assert.equal(pathOf(page), '/account', 'this session stays signed in');

  const second = state.second.page;
  await second.goto('/signin');
  await second.fill('#email', ADMIN.email);
  await second.fill('#password', ADMIN.password);
  await second.click('#signin-submit');
  assert.equal(await messageOf(second, '#signin-messages'), 'Wrong email or password.');
  await signIn(second, ADMIN, ADMIN_NEW_PASSWORD);
  ADMIN.password = ADMIN_NEW_PASSWORD;
  // The phone's session ended with the password change.
  await state.phone.page.reload();
  await state.phone.page.waitForURL(/\/signin\?ended=1/);
  await signIn(state.phone.page, ADMIN);
});

test('an administrator manages users; the new user signs in', async () => {
  const { page } = state.admin;
  await page.click('nav a[href="/admin/users"]');
  await page.locator('#users-table').waitFor();
  assert.equal(await page.title(), 'Users · sesame');

  // Create a user.
  await page.click('#new-user');
  await page.fill('#new-email', BOB.email);
  await page.fill('#new-first-name', BOB.first);
  await page.fill('#new-last-name', BOB.last);
  await page.fill('#new-password', BOB.password);
  await page.click('#create-user-submit');
  assert.equal(await messageOf(page, '#page-messages'), `${BOB.email} was created.`);
  await page.locator(`tr[data-email="${BOB.email}"]`).waitFor();

  // The same email again: 409.
  await page.click('#new-user');
  await page.fill('#new-email', BOB.email.toUpperCase());
  await page.fill('#new-password', 'another passphrase');
  await page.click('#create-user-submit');
  assert.equal(await messageOf(page, '#create-messages'), 'A user with this email already exists.');

  // Enough users for two pages, through the API with this context's cookie.
  for (let i = 1; i <= 21; i += 1) {
    const n = String(i).padStart(2, '0');
    const r = await page.request.post('/api/v1/users', {
      data: { email: `user${n}@example.org`, password: `passphrase ${n}`, first_name: `User${n}` },
    });
    assert.equal(r.status(), 201);
  }
  await page.reload();
  await page.locator('#users-table').waitFor();
  assert.equal(await page.textContent('#users-summary'), 'Showing 1–20 of 23');
  assert.equal(await page.locator('#users-table tbody tr').count(), 20);
  assert.equal(await page.isDisabled('#page-prev'), true);
  await check(page, 'users');
  await page.click('#page-next');
  await page.waitForURL('**/admin/users?page=2');
  await page.locator('#users-summary', { hasText: 'Showing 21–23 of 23' }).waitFor();
  assert.equal(await page.locator('#users-table tbody tr').count(), 3);
  assert.equal(await page.isDisabled('#page-next'), true);
  await page.click('#page-prev');
  await page.locator('#users-summary', { hasText: 'Showing 1–20 of 23' }).waitFor();

  // Search: substring, case-insensitive, on email and names.
  await page.fill('#user-search', 'MARL');
  await page.click('#user-search-form button[type=submit]');
  await page.locator('#users-summary', { hasText: 'of 1' }).waitFor();
  assert.equal(await page.locator('#users-table tbody tr').count(), 1);
  assert.equal(await page.getAttribute('#users-table tbody tr', 'data-email'), BOB.email);
  assert.match(page.url(), /\?q=MARL$/);

  // Edit names and the admin flag.
  await page.getByRole('button', { name: `Edit ${BOB.email}` }).click();
  await page.fill('#edit-first-name', 'Robert');
  await page.check('#edit-is-admin');
  await page.click('#edit-user-save');
  assert.equal(await messageOf(page, '#page-messages'), `${BOB.email} was saved.`);
  const row = page.locator(`tr[data-email="${BOB.email}"]`);
  await row.filter({ hasText: 'Robert Marley' }).locator('.badge', { hasText: 'Administrator' }).waitFor();
  await page.getByRole('button', { name: `Edit ${BOB.email}` }).click();
  assert.equal(await page.isChecked('#edit-is-admin'), true);
  await page.uncheck('#edit-is-admin');
  await page.click('#edit-user-save');
  await row.locator('.badge', { hasText: 'User' }).waitFor();
  assert.doesNotMatch(await row.textContent(), /Administrator/);

  // The last administrator cannot drop the flag.
  await page.fill('#user-search', ADMIN.email);
  await page.click('#user-search-form button[type=submit]');
  await page.locator('#users-summary', { hasText: 'of 1' }).waitFor();
  await page.getByRole('button', { name: `Edit ${ADMIN.email}` }).click();
  await page.uncheck('#edit-is-admin');
  const [last] = await Promise.all([
    page.waitForResponse((r) => r.request().method() === 'PUT' && r.url().includes('/api/v1/users/')),
    page.click('#edit-user-save'),
  ]);
  assert.equal(last.status(), 409);
  await page.locator('#edit-messages .message.error').waitFor();

  // The new user signs in elsewhere, and sees no Users page.
  const bob = await newPage(DESKTOP);
  await signIn(bob.page, BOB);
  assert.equal(await bob.page.textContent('#account-email'), BOB.email);
  assert.equal(await bob.page.textContent('#account-name'), 'Robert Marley');
  assert.equal(await bob.page.locator('nav a[href="/admin/users"]').count(), 0);
  await bob.page.goto('/admin/users');
  await bob.page.locator('#admins-only').waitFor();
  assert.match(await bob.page.textContent('#admins-only'), /administrators only/);
  await axe(bob.page, 'users, not an administrator');

  // The administrator ends Bob's sessions: Bob's next action goes to sign-in.
  await page.goto(`/admin/users?q=${encodeURIComponent(BOB.email)}`);
  await page.getByRole('button', { name: `Edit ${BOB.email}` }).click();
  await page.click('#edit-user-revoke');
  assert.match(await messageOf(page, '#edit-messages'), /Every session of bob@example.com was signed out/);
  await bob.page.click('nav a[href="/sessions"]');
  await bob.page.waitForURL(/\/signin\?ended=1/);

  // Create an administrator, then delete them, confirmed in the page.
  await page.click('#new-user');
  await page.fill('#new-email', 'carol@example.com');
  await page.fill('#new-password', 'carol passphrase');
  await page.check('#new-is-admin');
  await page.click('#create-user-submit');
  assert.equal(await messageOf(page, '#page-messages'), 'carol@example.com was created.');
  await page.fill('#user-search', 'carol');
  await page.click('#user-search-form button[type=submit]');
  const carol = page.locator('tr[data-email="carol@example.com"]');
  await carol.locator('.badge', { hasText: 'Administrator' }).waitFor();
  await page.getByRole('button', { name: 'Edit carol@example.com' }).click();
  await page.click('#edit-user-delete');
  await page.locator('#delete-confirm-yes').waitFor();
  await page.click('#delete-confirm-no');
  assert.equal(await page.locator('#delete-confirm-yes').count(), 0, 'Keep user cancels');
  await page.click('#edit-user-delete');
  await page.click('#delete-confirm-yes');
  assert.equal(await messageOf(page, '#page-messages'), 'carol@example.com was deleted.');
  await page.locator('#users-summary', { hasText: 'No users match' }).waitFor();
  state.bob = bob;
});

test('passkeys: one is added on the account page, then signs in without a password', async () => {
  await createUser(state.admin.page, DORA);
  const base = localhostOf(server.base);
  const { context, page } = await newPage(DESKTOP, { baseURL: base });
  const { cdp, authenticatorId } = await addAuthenticator(context, page);
  await signIn(page, DORA);
  assert.equal(new URL(page.url()).origin, base);
  await page.locator('#passkey-none').waitFor();
  assert.equal(await page.isVisible('#passkey-signin'), false, 'no sign-in button when signed in');

  // A name is needed.
  await page.click('#passkey-add');
  assert.equal(await messageOf(page, '#passkey-messages'), 'Give the new passkey a name.');

  await page.fill('#passkey-name', 'Test key');
  assert.equal(await submit(page, '#passkey-add', '#passkey-messages'), 'The passkey “Test key” was added.');
  const item = page.locator('#passkey-list li[data-name="Test key"]');
  await item.waitFor();
  assert.equal((await item.locator('.last-used').textContent()).trim(), 'Never');
  assert.equal(await page.inputValue('#passkey-name'), '', 'the name field is emptied');
  const { credentials } = await cdp.send('WebAuthn.getCredentials', { authenticatorId });
  assert.equal(credentials.length, 1);
  assert.equal(credentials[0].isResidentCredential, true, 'a discoverable credential, for sign-in without a password');
  // A passkey comes with no recovery codes: the page offers to make some.
  await page.locator('#recovery-status', { hasText: 'None left' }).waitFor();
  assert.equal((await page.textContent('#recovery-renew')).trim(), 'Make recovery codes');
  await checkBoth(page, 'account-passkeys');

  // With the password, the passkey is now the second factor.
  await page.click('#sign-out');
  await page.waitForURL('**/signin');
  await page.fill('#email', DORA.email);
  await page.fill('#password', DORA.password);
  const [login] = await Promise.all([
    page.waitForResponse((r) => r.url().endsWith('/api/v1/auth_session/login')),
    page.click('#signin-submit'),
  ]);
  const pending = await login.json();
  assert.equal(pending.mfa_required, true);
  assert.ok(pending.methods.includes('passkey'), JSON.stringify(pending));
  await page.locator('#mfa-passkey').waitFor();
  assert.equal(await page.locator('#mfa-code').count(), 0, 'no code field without an authenticator app');
  await axe(page, 'signin, second factor with a passkey');
  await page.click('#mfa-passkey');
  await page.waitForURL('**/account');
  assert.equal(await page.textContent('#account-email'), DORA.email);

  // Signed out, the passkey alone signs in: no email, no password.
  await page.click('#sign-out');
  await page.waitForURL('**/signin');
  await page.locator('#passkey-signin').waitFor();
  const [finish] = await Promise.all([
    page.waitForResponse((r) => r.url().endsWith('/api/v1/auth_session/passkey/finish')),
    page.click('#passkey-signin'),
  ]);
  assert.equal(finish.status(), 200);
  await page.waitForURL('**/account');
  assert.equal(await page.textContent('#account-email'), DORA.email);
  assert.equal(await page.textContent('#nav-email'), DORA.email);
  const used = page.locator('#passkey-list li[data-name="Test key"] .last-used');
  await used.locator('time').waitFor();
  assert.notEqual((await used.textContent()).trim(), 'Never');
  assert.match(await used.textContent(), /just now|minute/);

  // Removed, the same passkey no longer signs in, and the page says so.
  await page.getByRole('button', { name: 'Remove passkey Test key' }).click();
  assert.equal(await messageOf(page, '#passkey-messages'), 'The passkey “Test key” was removed.');
  await page.locator('#passkey-none').waitFor();
  await page.click('#sign-out');
  await page.waitForURL('**/signin');
  const [refused] = await Promise.all([
    page.waitForResponse((r) => r.url().endsWith('/api/v1/auth_session/passkey/finish')),
    page.click('#passkey-signin'),
  ]);
  assert.equal(refused.status(), 401);
  assert.match(await messageOf(page, '#signin-messages'), /does not know this passkey/);
  assert.equal(pathOf(page), '/signin');
  await context.close();
});

test('an authenticator app: set up with its QR code and ten recovery codes, then sign-in asks for a code', async () => {
  await createUser(state.admin.page, ERIN);
  const { context, page } = await newPage(DESKTOP);
  await signIn(page, ERIN);
  await page.locator('#totp-card').waitFor();
  assert.match(await page.textContent('#totp-status'), /Off/);
  // No second factor, so no recovery codes to make.
  assert.match(await page.textContent('#recovery-status'), /None.*second factor/);
  assert.equal(await page.isVisible('#recovery-renew'), false);
  await page.click('#totp-setup');
  await page.locator('#totp-enrol').waitFor();

  // The QR code is inline SVG, named for screen readers; the key is there to type by hand.
  const qr = page.locator('#totp-enrol svg[role="img"]');
  assert.equal(await qr.getAttribute('aria-label'), 'QR code for your authenticator app');
  assert.ok((await qr.locator('path').count()) >= 1, 'the QR code has its modules');
  assert.equal(await qr.getAttribute('style'), null);
  const secret = (await page.textContent('#totp-secret')).replace(/\s+/g, '');
  assert.match(secret, /^[A-Z2-7]{16,}$/);
  assert.equal(await page.getAttribute('#totp-code', 'autocomplete'), 'one-time-code');
  assert.equal(await page.getAttribute('#totp-code', 'inputmode'), 'numeric');
  await checkBoth(page, 'totp-setup');

  // A wrong code is refused, in the page.
  await page.fill('#totp-code', wrongCode(secret));
  assert.match(await submit(page, '#totp-confirm', '#totp-messages'), /That code is not right/);
  assert.equal(pathOf(page), '/account', 'a wrong code does not end the session');

  await page.fill('#totp-code', totp(secret));
  await page.click('#totp-confirm');
  await page.locator('#recovery-codes').waitFor();
  const codes = await page.locator('#recovery-codes li').allTextContents();
  assert.equal(codes.length, 10);
  for (const code of codes) assert.match(code.trim(), /^[a-z0-9]{4}(-[a-z0-9]{4}){3}$/);
  assert.match(await page.textContent('#recovery-panel'), /shown only this once/);
  assert.match(await page.textContent('#totp-messages'), /authenticator app is on/);
  await page.locator('#recovery-status', { hasText: '10 recovery codes left' }).waitFor();
  await checkBoth(page, 'recovery-codes');
  await page.click('#recovery-done');
  assert.equal(await page.locator('#recovery-codes').count(), 0, 'the codes are shown once');
  assert.match(await page.textContent('#totp-status'), /On/);
  await page.locator('#totp-remove').waitFor();

  // Signed out, the password is not enough: the second-factor step asks for a code.
  await page.click('#sign-out');
  await page.waitForURL('**/signin');
  await page.fill('#email', ERIN.email);
  await page.fill('#password', ERIN.password);
  const [login] = await Promise.all([
    page.waitForResponse((r) => r.url().endsWith('/api/v1/auth_session/login')),
    page.click('#signin-submit'),
  ]);
  assert.deepEqual(await login.json(), { mfa_required: true, methods: ['totp', 'recovery_code'] });
  await page.locator('#mfa-form').waitFor();
  assert.equal(await page.title(), 'Second factor · sesame');
  assert.equal(await page.evaluate(() => document.activeElement.id), 'mfa-code', 'the code field has focus');
  assert.equal(await page.getAttribute('#mfa-code', 'autocomplete'), 'one-time-code');
  assert.equal(await page.getAttribute('#mfa-code', 'inputmode'), 'numeric');
  assert.equal(await page.locator('#mfa-passkey').count(), 0, 'no passkey button without a passkey');
  assert.equal(await page.locator('#nav-email').count(), 0, 'not signed in yet');
  await checkBoth(page, 'signin-second-factor');

  await page.fill('#mfa-code', wrongCode(secret));
  assert.match(await submit(page, '#mfa-submit', '#mfa-messages'), /That code is not right/);
  assert.equal(await page.inputValue('#mfa-code'), '');
  // The recovery code field, and back.
  await page.click('#mfa-toggle');
  await page.locator('#mfa-recovery').waitFor();
  assert.equal(await page.locator('#mfa-code').count(), 0);
  await page.click('#mfa-toggle');
  // The code of the next step: enrolment used this one, and a step is accepted once.
  await page.fill('#mfa-code', totp(secret, Date.now() + 30000));
  await page.click('#mfa-submit');
  await page.waitForURL('**/account');
  assert.equal(await page.textContent('#account-email'), ERIN.email);
  assert.match(await page.textContent('#totp-status'), /On/);

  // Cancel abandons a pending sign-in; a recovery code signs in.
  await page.click('#sign-out');
  await page.waitForURL('**/signin');
  await page.fill('#email', ERIN.email);
  await page.fill('#password', ERIN.password);
  await page.click('#signin-submit');
  await page.locator('#mfa-form').waitFor();
  await page.click('#mfa-cancel');
  await page.locator('#signin-form').waitFor();
  assert.equal(await messageOf(page, '#signin-messages'), 'The sign-in was cancelled.');
  assert.equal(await page.inputValue('#email'), ERIN.email);
  await page.fill('#password', ERIN.password);
  await page.click('#signin-submit');
  await page.locator('#mfa-form').waitFor();
  await page.click('#mfa-toggle');
  await page.fill('#mfa-recovery', codes[0].trim());
  await page.click('#mfa-submit');
  await page.waitForURL('**/account');
  assert.equal(await page.textContent('#account-email'), ERIN.email);
  await page.locator('#recovery-status', { hasText: '9 recovery codes left' }).waitFor();

  // The page asks sesame (GET /users/me/mfa), it keeps no guess: a stale hint of an earlier
  // build is dropped, and the status is right without any.
  assert.deepEqual(await page.evaluate(() => Object.keys(localStorage)), ['sesame.signedIn']);
  await page.evaluate(() => localStorage.setItem('sesame.totp', JSON.stringify({ id: 'x', totp: false })));
  await page.reload();
  await page.locator('#recovery-status', { hasText: '9 recovery codes left' }).waitFor();
  assert.match(await page.textContent('#totp-status'), /On/);
  assert.deepEqual(await page.evaluate(() => Object.keys(localStorage)), ['sesame.signedIn']);
  const factors = await page.request.get('/api/v1/users/me/mfa');
  assert.deepEqual(await factors.json(), {
    totp: true, totp_pending: false, passkeys: 0, recovery_codes_left: 9, methods: ['totp', 'recovery_code'],
  });

  // An administrator resets Erin's second factors: her session ends, and the password alone
  // then signs in.
  const admin = await newPage(DESKTOP);
  await signIn(admin.page, ADMIN);
  await admin.page.goto(`/admin/users?q=${encodeURIComponent(ERIN.email)}`);
  await admin.page.getByRole('button', { name: `Edit ${ERIN.email}` }).click();
  await admin.page.click('#edit-user-reset-mfa');
  await admin.page.locator('#reset-mfa-confirm-yes').waitFor();
  await axe(admin.page, 'users, reset second factors');
  await admin.page.click('#reset-mfa-confirm-yes');
  assert.match(await messageOf(admin.page, '#edit-messages'), /second factors of erin@example.com were removed/);
  await admin.context.close();
  await page.reload();
  await page.waitForURL(/\/signin\?ended=1/);
  await page.fill('#email', ERIN.email);
  await page.fill('#password', ERIN.password);
  await page.click('#signin-submit');
  await page.waitForURL('**/account');
  assert.match(await page.textContent('#totp-status'), /Off/);
  assert.match(await page.textContent('#recovery-status'), /None/);
  await context.close();
});

test('MFA_REQUIRED=all: a new account adds a second factor first; a stale session asks for the password again', async () => {
  // A server of its own: every account needs a second factor, and a credential is fresh for 20 s.
  const REAUTH = 20;
  const strict = await startServer({ MFA_REQUIRED: 'all', REAUTH_MAX_AGE: String(REAUTH) });
  extraServers.push(strict);
  const { context, page } = await newPage(DESKTOP, { baseURL: strict.base });
  await page.goto(strict.setupUrl);
  await page.locator('#setup-form').waitFor();
  await page.fill('#email', STRICT_ADMIN.email);
  await page.fill('#password', STRICT_ADMIN.password);
  await page.fill('#password_confirm', STRICT_ADMIN.password);
  await page.click('#setup-submit');
  const signedInAt = Date.now();
  await page.waitForURL('**/account');

  // Nothing but enrolment: the page says so, offers both kinds, and only a way out.
  await page.locator('#totp-setup').waitFor();
  assert.equal(await page.textContent('h1'), 'Add a second factor to continue');
  assert.equal(await page.title(), 'Add a second factor · sesame');
  await page.locator('#passkey-form').waitFor();
  assert.equal(await page.locator('#nav-email, nav a[href="/sessions"]').count(), 0);
  await page.locator('#sign-out').waitFor();
  const me = await page.request.get('/api/v1/users/me');
  assert.equal(me.status(), 403);
  assert.deepEqual(await me.json(), { error: 'second factor enrolment required' });
  // Other private pages show the same.
  await page.goto('/sessions');
  await page.locator('#totp-setup').waitFor();
  assert.equal(await page.textContent('h1'), 'Add a second factor to continue');
  await checkBoth(page, 'enrol-required');

  // A set-up left unfinished shows as such after a reload (GET /users/me/mfa), and starts again.
  await page.click('#totp-setup');
  await page.locator('#totp-secret').waitFor();
  await page.reload();
  await page.locator('#totp-status', { hasText: 'started but not finished' }).waitFor();
  assert.equal(await page.textContent('h1'), 'Add a second factor to continue');
  await page.click('#totp-setup');
  const secret = (await page.textContent('#totp-secret')).replace(/\s+/g, '');
  await page.fill('#totp-code', totp(secret));
  await page.click('#totp-confirm');
  await page.locator('#recovery-codes').waitFor();
  assert.equal(await page.locator('#recovery-codes li').count(), 10);
  assert.ok(Date.now() - signedInAt < REAUTH * 1000, 'the enrolment took less than REAUTH_MAX_AGE');
  await page.click('#recovery-done');
  // And on normally: the page that was asked for, the whole navigation.
  await page.locator('#session-list').waitFor();
  assert.equal(await page.title(), 'My sessions · sesame');
  await page.locator('nav a[href="/admin/users"]').waitFor();
  assert.equal(await page.textContent('#nav-email'), STRICT_ADMIN.email);
  await page.click('nav a[href="/account"]');
  await page.locator('#recovery-renew').waitFor();
  assert.match(await page.textContent('#totp-status'), /On/);

  // Once the sign-in is older than REAUTH_MAX_AGE, a sensitive action asks for the password
  // in a dialog, then goes on.
  const wait = signedInAt + (REAUTH + 2) * 1000 - Date.now();
  if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
  await page.click('#recovery-renew');
  await page.click('#recovery-renew-yes');
  const dialog = page.locator('#reauth-dialog');
  await dialog.waitFor();
  assert.equal(await dialog.evaluate((d) => d.open && d.matches(':modal')), true, 'a modal dialog');
  assert.equal(await page.evaluate(() => document.activeElement.id), 'reauth-password');
  await checkBoth(page, 'reauth');
  await page.fill('#reauth-password', 'not my password');
  assert.equal(await submit(page, '#reauth-submit', '#reauth-messages'), 'That password is not right.');
  assert.equal(await dialog.isVisible(), true);
  // Cancel leaves everything as it was.
  await page.click('#reauth-cancel');
  await dialog.waitFor({ state: 'detached' });
  assert.equal(await page.locator('#recovery-codes').count(), 0);
  await page.locator('#recovery-renew-yes').waitFor();
  assert.equal(await page.evaluate(() => document.activeElement.id), 'recovery-renew-yes', 'focus is back on the button');

  // This time with a code from the app (of the next step: enrolment used this one).
  await page.click('#recovery-renew-yes');
  await dialog.waitFor();
  await page.click('#reauth-toggle');
  assert.equal(await page.evaluate(() => document.activeElement.id), 'reauth-code');
  assert.equal(await page.getAttribute('#reauth-code', 'autocomplete'), 'one-time-code');
  await page.fill('#reauth-code', totp(secret, Date.now() + 30000));
  const [reauth] = await Promise.all([
    page.waitForResponse((r) => r.url().endsWith('/api/v1/auth_session/reauth')),
    page.click('#reauth-submit'),
  ]);
  assert.equal(reauth.status(), 200);
  await page.locator('#recovery-codes').waitFor();
  await dialog.waitFor({ state: 'detached' });
  assert.equal(await page.locator('#recovery-codes li').count(), 10);
  assert.match(await page.textContent('#recovery-messages'), /new set of recovery codes/);
  await context.close();
});

test('without SMTP_URL the mail pages say they are not available, and sign-in stops offering them', async () => {
  const { context, page } = await newPage(DESKTOP);
  await page.goto('/signin');
  await page.locator('#signin-form').waitFor();
  // No route says whether this server sends mail: the links show until one answers 404.
  await page.locator('#forgot-link').waitFor();
  await page.locator('#signup-link').waitFor();
  await page.fill('#email', BOB.email);
  await page.click('#forgot-link');
  await page.waitForURL('**/forgot');
  assert.equal(await page.title(), 'Forgot your password? · sesame');
  assert.equal(await page.inputValue('#email'), BOB.email, 'the address typed on sign-in comes along');
  assert.equal(await page.evaluate(() => document.activeElement.tagName), 'H1');
  const [resp] = await Promise.all([
    page.waitForResponse((r) => r.url().endsWith('/api/v1/auth_session/reset_password')),
    page.click('#forgot-submit'),
  ]);
  assert.equal(resp.status(), 404);
  assert.match(await messageOf(page, '#forgot-messages'), /^This server does not send mail.*Ask an administrator/);
  assert.equal(await page.isVisible('#forgot-form'), false);
  await axe(page, 'forgot, without mail');
  await page.click('a.back-link');
  await page.waitForURL('**/signin');
  await page.locator('#signin-form').waitFor();
  assert.equal(await page.locator('#forgot-link, #signup-link').count(), 0, 'the links are gone');

  // Sign-up, straight from its address.
  await page.goto('/signup');
  await page.fill('#email', 'newcomer@example.com');
  await page.fill('#password', 'newcomer passphrase');
  await page.fill('#password_confirm', 'newcomer passphrase');
  assert.equal(await submit(page, '#signup-submit', '#signup-messages'),
    'This server does not take sign-ups. Ask an administrator for an account.');
  await axe(page, 'signup, not open');

  // The link pages: without a token they explain; with one, the server's 404.
  await page.goto('/reset');
  await page.locator('#reset-ask-again').waitFor();
  assert.match(await bodyText(page), /needs the link of the mail/);
  await page.goto('/reset?token=not-a-real-token');
  await page.locator('#reset-form').waitFor();
  assert.equal(pathOf(page), '/reset');
  assert.equal(new URL(page.url()).search, '', 'the token leaves the address bar');
  await page.fill('#new_password', 'some new passphrase');
  await page.fill('#new_password_confirm', 'some new passphrase');
  assert.equal(await submit(page, '#reset-submit', '#reset-messages'),
    'This server does not send mail, so password-reset links do not work here.');
  await page.goto('/verify?token=not-a-real-token');
  await page.locator('#verify-failed').waitFor();
  assert.equal(new URL(page.url()).search, '');
  assert.match(await messageOf(page, '#verify-messages'), /does not send mail/);
  await axe(page, 'verify, without mail');
  await context.close();
});

// A server with mail (SMTP_URL to a sink of this file) and open sign-up; PUBLIC_URL is its own
// address, so it must listen on a port chosen first.
async function mailServer() {
  if (state.mail) return state.mail;
  const sink = await startSmtpSink();
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const srv = await startServer({
    API_PORT: String(port),
    PUBLIC_URL: base,
    SMTP_URL: `smtp://127.0.0.1:${sink.port}`,
    MAIL_FROM: 'sesame <sesame@example.com>',
    SIGNUP: 'open',
  });
  extraServers.push(srv);
  assert.equal(srv.base, base);
  state.mail = { srv, sink };
  return state.mail;
}

test('sign-up by mail: the mailed link verifies the address, then the account signs in', async () => {
  const { srv, sink } = await mailServer();
  const { context, page } = await newPage(DESKTOP, { baseURL: srv.base });
  await page.goto('/signin');
  await page.locator('#signin-form').waitFor();
  await page.click('#signup-link');
  await page.waitForURL('**/signup');
  await page.locator('#signup-form').waitFor();
  assert.equal(await page.title(), 'Create an account · sesame');
  assert.equal(await page.evaluate(() => document.activeElement.tagName), 'H1');
  await checkBoth(page, 'signup');

  // The password policy is the server's, said in the page.
  await page.fill('#email', FRIDA.email);
  await page.fill('#first_name', FRIDA.first);
  await page.fill('#last_name', FRIDA.last);
  await page.fill('#password', FRIDA.email);
  await page.fill('#password_confirm', FRIDA.email);
  assert.equal(await submit(page, '#signup-submit', '#signup-messages'), 'Password must not be the email address.');
  assert.equal(await page.evaluate(() => document.activeElement.id), 'password');
  await page.fill('#password', 'short');
  await page.fill('#password_confirm', 'short');
  assert.equal(await submit(page, '#signup-submit', '#signup-messages'), 'Password too short (at least 8 characters).');
  await page.fill('#password', FRIDA.password);
  await page.fill('#password_confirm', 'something else');
  assert.equal(await submit(page, '#signup-submit', '#signup-messages'), 'The two passwords do not match.');
  await page.fill('#password_confirm', FRIDA.password);
  const [resp] = await Promise.all([
    page.waitForResponse((r) => r.url().endsWith('/api/v1/auth_session/signup')),
    page.click('#signup-submit'),
  ]);
  assert.equal(resp.status(), 202);
  await page.locator('#signup-sent').waitFor();
  assert.match(await messageOf(page, '#signup-messages'), /^Check your mail: we sent a link to verify the address\./);
  assert.equal(await page.evaluate(() => document.activeElement.tagName), 'H1');
  await checkBoth(page, 'signup-sent');

  // Not verified yet: there is no account until the link is opened, so sign-in refuses the
  // password like any unknown address (nothing tells a taken address from a free one).
  await page.click('a.back-link');
  await page.waitForURL('**/signin');
  assert.equal(await page.inputValue('#email'), FRIDA.email);
  await page.fill('#password', FRIDA.password);
  const [early] = await Promise.all([
    page.waitForResponse((r) => r.url().endsWith('/api/v1/auth_session/login')),
    page.click('#signin-submit'),
  ]);
  assert.equal(early.status(), 401);
  assert.deepEqual(await early.json(), { error: 'wrong email or password' });

  // The mailed link, opened in the browser: verified, and the token leaves the address bar.
  const mail = await nextMail(sink, FRIDA.email);
  assert.equal(mail.subject, 'Verify your e-mail address');
  assert.equal(mail.from, 'sesame@example.com');
  const link = linkIn(mail, srv.base, 'verify');
  await page.goto(link);
  await page.locator('#verify-done').waitFor();
  assert.equal(page.url(), `${srv.base}/verify`);
  assert.match(await messageOf(page, '#verify-messages'), /^Address verified, you can sign in\./);
  await checkBoth(page, 'verify');
  await page.click('#verify-signin');
  await page.waitForURL('**/signin');
  assert.equal(await page.inputValue('#email'), FRIDA.email);
  await page.fill('#password', FRIDA.password);
  await page.click('#signin-submit');
  await page.waitForURL('**/account');
  assert.equal(await page.textContent('#account-email'), FRIDA.email);
  assert.equal(await page.textContent('#account-name'), `${FRIDA.first} ${FRIDA.last}`);
  assert.equal(await page.textContent('#account-role'), 'User');

  // The link works once.
  const again = await newPage(DESKTOP, { baseURL: srv.base });
  await again.page.goto(link);
  await again.page.locator('#verify-failed').waitFor();
  assert.match(await messageOf(again.page, '#verify-messages'), /^The link is not valid: it was used, replaced or is too old\.$/);
  await checkBoth(again.page, 'verify-invalid');

  // Signing up with a taken address answers the same; the owner is mailed the ways in.
  await again.page.goto('/signup');
  await again.page.fill('#email', FRIDA.email);
  await again.page.fill('#password', 'an impostor passphrase');
  await again.page.fill('#password_confirm', 'an impostor passphrase');
  await again.page.click('#signup-submit');
  await again.page.locator('#signup-sent').waitFor();
  assert.match(await messageOf(again.page, '#signup-messages'), /^Check your mail: we sent a link to verify the address\./);
  const taken = await nextMail(sink, FRIDA.email);
  assert.equal(taken.subject, 'You already have an account');
  assert.ok(taken.text.includes(`${srv.base}/signin`), taken.text);
  assert.ok(taken.text.includes(`${srv.base}/forgot`), taken.text);
  await again.page.goto(`${srv.base}/forgot`);
  await again.page.locator('#forgot-form').waitFor();
  await again.context.close();
  state.frida = { context, page };
});

test('a forgotten password: the mailed link sets a new one, once', async () => {
  const { srv, sink } = await mailServer();
  const { context, page } = await newPage(DESKTOP, { baseURL: srv.base });
  await page.goto('/signin');
  await page.locator('#signin-form').waitFor();
  await page.fill('#email', FRIDA.email);
  await page.click('#forgot-link');
  await page.waitForURL('**/forgot');
  await page.locator('#forgot-form').waitFor();
  assert.equal(await page.inputValue('#email'), FRIDA.email);
  await checkBoth(page, 'forgot');
  await page.fill('#email', '');
  assert.equal(await submit(page, '#forgot-submit', '#forgot-messages'), 'Enter the email address of your account.');
  await page.fill('#email', FRIDA.email);
  const [resp] = await Promise.all([
    page.waitForResponse((r) => r.url().endsWith('/api/v1/auth_session/reset_password')),
    page.click('#forgot-submit'),
  ]);
  assert.equal(resp.status(), 202);
  await page.locator('#forgot-sent').waitFor();
  assert.equal(await messageOf(page, '#forgot-messages'),
    'If an account exists for that address, we have sent a link. It works for 15 minutes.');
  await checkBoth(page, 'forgot-sent');

  const mail = await nextMail(sink, FRIDA.email);
  assert.equal(mail.subject, 'Reset your password');
  const link = linkIn(mail, srv.base, 'reset');
  await page.goto(link);
  await page.locator('#reset-form').waitFor();
  assert.equal(page.url(), `${srv.base}/reset`, 'the token leaves the address bar');
  await checkBoth(page, 'reset');
  await page.fill('#new_password', FRIDA_NEW_PASSWORD);
  await page.fill('#new_password_confirm', 'something else');
  assert.equal(await submit(page, '#reset-submit', '#reset-messages'), 'The two passwords do not match.');
  // The policy refuses before the link is used: it still works after.
  await page.fill('#new_password', 'short');
  await page.fill('#new_password_confirm', 'short');
  assert.equal(await submit(page, '#reset-submit', '#reset-messages'), 'Password too short (at least 8 characters).');
  await page.fill('#new_password', FRIDA_NEW_PASSWORD);
  await page.fill('#new_password_confirm', FRIDA_NEW_PASSWORD);
  const [reset] = await Promise.all([
    page.waitForResponse((r) => r.url().endsWith('/api/v1/auth_session/reset_password')),
    page.click('#reset-submit'),
  ]);
  assert.equal(reset.status(), 200);
  await page.locator('#reset-done').waitFor();
  assert.match(await messageOf(page, '#reset-messages'), /^Your password was changed, and every session of your account was signed out\./);
  await checkBoth(page, 'reset-done');

  // Every session ended: the one signed in after sign-up goes to sign-in.
  await state.frida.page.reload();
  await state.frida.page.waitForURL(/\/signin\?ended=1/);
  await state.frida.context.close();
  // The old password no longer works; the new one does.
  await page.click('#reset-signin');
  await page.waitForURL('**/signin');
  await page.fill('#email', FRIDA.email);
  await page.fill('#password', FRIDA.password);
  assert.equal(await submit(page, '#signin-submit', '#signin-messages'), 'Wrong email or password.');
  await signIn(page, FRIDA, FRIDA_NEW_PASSWORD);

  // The used link, in another browser: refused, with the way to a new one.
  const other = await newPage(DESKTOP, { baseURL: srv.base });
  await other.page.goto(link);
  await other.page.locator('#reset-form').waitFor();
  await other.page.fill('#new_password', 'yet another passphrase');
  await other.page.fill('#new_password_confirm', 'yet another passphrase');
  assert.equal(await submit(other.page, '#reset-submit', '#reset-messages'),
    'The link is not valid: it was used, replaced or is too old.');
  await other.page.locator('#reset-ask-again').waitFor();
  assert.equal(await other.page.locator('#reset-form').count(), 0);
  await checkBoth(other.page, 'reset-invalid');

  // An address without an account gets the same answer; asking again and again is throttled.
  await other.page.click('#reset-ask-again');
  await other.page.waitForURL('**/forgot');
  let message = '';
  for (let attempt = 1; attempt <= 8 && !message.startsWith('Too many'); attempt += 1) {
    if (attempt > 1) await other.page.click('#forgot-again');
    await other.page.fill('#email', NOBODY);
    message = await submit(other.page, '#forgot-submit', '#forgot-messages');
    if (!message.startsWith('Too many')) {
      assert.equal(message, 'If an account exists for that address, we have sent a link. It works for 15 minutes.');
    }
  }
  assert.match(message, /^Too many attempts\. Try again in \d+ seconds?\.$/);
  await other.context.close();
  await context.close();
});

test('a throttled sign-in shows how long to wait', async () => {
  const { page } = state.bob;
  await page.goto('/signin');
  let message = '';
  let retryAfter = null;
  for (let attempt = 1; attempt <= 12 && retryAfter === null; attempt += 1) {
    await page.fill('#email', BOB.email);
    await page.fill('#password', `wrong guess ${attempt}`);
    await page.locator('#signin-messages').evaluate((el) => el.replaceChildren());
    const [resp] = await Promise.all([
      page.waitForResponse((r) => r.url().endsWith('/api/v1/auth_session/login')),
      page.click('#signin-submit'),
    ]);
    await page.locator('#signin-submit:enabled').waitFor();
    message = await messageOf(page, '#signin-messages');
    if (resp.status() === 429) retryAfter = resp.headers()['retry-after'];
    else assert.equal(message, 'Wrong email or password.');
  }
  assert.ok(retryAfter, 'the sign-in was throttled (429 with Retry-After)');
  assert.match(message, /^Too many attempts\. Try again in \d+ seconds?\.$/);
  assert.ok(message.includes(`in ${retryAfter} second`), `${message} (Retry-After: ${retryAfter})`);
});

test('every page at 360 px: no sideways scroll, no serious accessibility problem', async () => {
  const { page } = state.phone;
  for (const [href, name, ready] of [
    ['/account', 'account', '#account-email'],
    ['/sessions', 'sessions', '#session-list'],
    ['/admin/users', 'users', '#users-table'],
  ]) {
    await page.goto(href);
    await page.locator(ready).waitFor();
    await check(page, name);
    // The dark scheme keeps its contrast too.
    await page.emulateMedia({ colorScheme: 'dark', reducedMotion: 'reduce' });
    await axe(page, `${name}, dark (360 px)`);
    await page.emulateMedia({ colorScheme: 'light', reducedMotion: null });
  }
});

test('the API description page, if this build serves it', async (t) => {
  const docs = await state.admin.page.request.get('/api/docs');
  if (docs.status() === 404) {
    t.skip('/api/docs answers 404');
    return;
  }
  assert.equal(docs.status(), 200);
  for (const viewport of [DESKTOP, PHONE]) {
    const { context, page } = await newPage(viewport);
    await page.goto('/api/docs');
    await check(page, 'api-docs');
    await context.close();
  }
});

test('sign out: the back button shows nothing private', async () => {
  const { page } = state.admin;
  await page.goto('/account');
  await page.locator('#account-email').waitFor();
  await page.click('nav a[href="/sessions"]');
  await page.locator('#session-list').waitFor();
  await page.click('#sign-out');
  await page.waitForURL('**/signin');
  await page.locator('#signin-form').waitFor();
  assert.equal(await page.locator('#nav-email').count(), 0);
  const cookies = await page.context().cookies();
  assert.ok(!cookies.some((c) => c.name === COOKIE), 'the cookie is gone');

  await page.goBack();
  await page.waitForURL(/\/signin/);
  await page.locator('#signin-form').waitFor();
  await page.waitForLoadState('networkidle');
  assert.equal(pathOf(page), '/signin');
  const text = await bodyText(page);
  for (const secret of [ADMIN.email, 'Augusta', 'King', BOB.email, '127.0.0.1']) {
    assert.ok(!text.includes(secret), `after sign-out the back button shows "${secret}"`);
  }
  assert.equal(await page.locator('#nav-email, #account-email, #session-list, #users-table').count(), 0);
});

test('every page was checked', () => {
  for (const name of [
    'setup', 'signin', 'account', 'sessions', 'users',
    'account-passkeys', 'totp-setup', 'recovery-codes', 'signin-second-factor', 'enrol-required', 'reauth',
    'signup', 'signup-sent', 'verify', 'verify-invalid', 'forgot', 'forgot-sent', 'reset', 'reset-done', 'reset-invalid',
  ]) {
    for (const width of [DESKTOP.width, PHONE.width]) {
      assert.ok(checkedPages.includes(`${name} (${width} px)`), `${name} at ${width} px was not checked`);
      const kind = width === PHONE.width ? 'phone' : 'desktop';
      assert.ok(fs.existsSync(path.join(SHOTS, `${name}-${kind}.png`)), `no screenshot of ${name}-${kind}`);
    }
  }
});
