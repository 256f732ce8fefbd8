// sesame API reference: renders the served OpenAPI 3.1 document (GET /api/v1/openapi.json) as
// one readable, accessible page. No framework and no build step, like the web front.
//
// Every element is built with createElement and text nodes (no HTML string is ever parsed), so
// no text of the document can become markup; the page's Content-Security-Policy (default-src 'self')
// forbids inline script and style, data: URLs and eval, and this script needs none of them.
// The descriptions are plain text in which `backticks` mark code and blank lines separate
// paragraphs: that is all of Markdown that is rendered.
'use strict';

(() => {
  const main = document.getElementById('main');
  const statusArea = document.getElementById('docs-status');
  const out = document.getElementById('docs');
  const DOCUMENT = (main && main.dataset.document) || '/api/v1/openapi.json';
  const SCHEMA_REF = '#/components/schemas/';
  const MAX_DEPTH = 4; // nesting of inline object schemas shown as fields

  const REASONS = {
    200: 'OK', 201: 'Created', 202: 'Accepted', 204: 'No Content', 301: 'Moved Permanently',
    302: 'Found', 303: 'See Other', 304: 'Not Modified', 307: 'Temporary Redirect',
    308: 'Permanent Redirect', 400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden',
    404: 'Not Found', 405: 'Method Not Allowed', 406: 'Not Acceptable', 408: 'Request Timeout',
    409: 'Conflict', 410: 'Gone', 412: 'Precondition Failed', 413: 'Content Too Large',
    415: 'Unsupported Media Type', 422: 'Unprocessable Content', 429: 'Too Many Requests',
    500: 'Internal Server Error', 501: 'Not Implemented', 502: 'Bad Gateway',
    503: 'Service Unavailable', 504: 'Gateway Timeout',
  };
  const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];

  // ---------------------------------------------------------------------------------------
  // DOM helpers

  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key === 'class') el.className = value;
      else if (value === true) el.setAttribute(key, '');
      else el.setAttribute(key, String(value));
    }
    for (const child of children.flat(Infinity)) {
      if (child === null || child === undefined || child === false) continue;
      el.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return el;
  }

  function code(text) {
    return h('code', null, text);
  }

  // Text with `code` spans.
  function inline(text) {
    return String(text)
      .split('`')
      .map((part, i) => (i % 2 === 1 ? code(part) : part.replace(/\s+/g, ' ')))
      .filter((part) => part !== '');
  }

  // Paragraphs, split on blank lines.
  function prose(text, cls) {
    if (typeof text !== 'string' || text.trim() === '') return [];
    return text
      .split(/\n\s*\n/)
      .map((p) => p.trim())
      .filter(Boolean)
      .map((p) => h('p', { class: cls || 'prose' }, inline(p)));
  }

  // A URL path that may break after each `/` (long paths wrap there on narrow screens).
  function pathNodes(path) {
    return String(path)
      .split(/(?<=\/)/)
      .flatMap((part, i) => (i > 0 ? [h('wbr'), part] : [part]));
  }

  function isObject(v) {
    return v !== null && typeof v === 'object' && !Array.isArray(v);
  }

  function entries(v) {
    return isObject(v) ? Object.entries(v) : [];
  }

  // Fragment-safe ids: each one is made once, and made unique.
  const usedIds = new Set();
  function idFor(prefix, name) {
    const slug = String(name).replace(/[^A-Za-z0-9_]+/g, '-').replace(/^-+|-+$/g, '');
    const base = `${prefix}-${slug || 'x'}`;
    let id = base;
    for (let n = 2; usedIds.has(id); n += 1) id = `${base}-${n}`;
    usedIds.add(id);
    return id;
  }

  // A percent-encoded JSON pointer or fragment part, decoded (as is, if it is malformed).
  function decode(part) {
    try {
      return decodeURIComponent(part);
    } catch (_) {
      return part;
    }
  }

  function json(value) {
    return JSON.stringify(value, null, 2);
  }

  // ---------------------------------------------------------------------------------------
  // The document: references and schema reading

  function makeContext(doc) {
    const schemas = isObject(doc.components) && isObject(doc.components.schemas) ? doc.components.schemas : {};
    const schemaIds = new Map(Object.keys(schemas).map((name) => [name, idFor('schema', name)]));
    const schemes =
      isObject(doc.components) && isObject(doc.components.securitySchemes) ? doc.components.securitySchemes : {};
    const schemeIds = new Map(Object.keys(schemes).map((name) => [name, idFor('auth', name)]));
    return { doc, schemas, schemaIds, schemes, schemeIds, seen: new Set() };
  }

  // The value a local JSON pointer (`#/a/b`) names, or undefined.
  function pointer(doc, ref) {
    if (typeof ref !== 'string' || !ref.startsWith('#/')) return undefined;
    let node = doc;
    for (const raw of ref.slice(2).split('/')) {
      const key = decode(raw).replace(/~1/g, '/').replace(/~0/g, '~');
      if (!isObject(node) && !Array.isArray(node)) return undefined;
      node = node[key];
    }
    return node;
  }

  // An object with its `$ref`s followed (parameters, bodies, answers, headers, schemas).
  function deref(ctx, value) {
    let node = value;
    for (let hops = 0; isObject(node) && typeof node.$ref === 'string' && hops < 16; hops += 1) {
      const target = pointer(ctx.doc, node.$ref);
      if (!isObject(target)) return node;
      node = target;
    }
    return node;
  }

  function schemaName(schema) {
    if (!isObject(schema) || typeof schema.$ref !== 'string' || !schema.$ref.startsWith(SCHEMA_REF)) return null;
    return decode(schema.$ref.slice(SCHEMA_REF.length)).replace(/~1/g, '/').replace(/~0/g, '~');
  }

  function isNullSchema(schema) {
    return isObject(schema) && (schema.type === 'null' || (Array.isArray(schema.type) && schema.type.length === 1 && schema.type[0] === 'null'));
  }

  // The alternatives of a `oneOf`/`anyOf`, without the `null` one (how utoipa 5 writes
  // `Option<T>` of a named schema), and whether `null` was one of them.
  function alternatives(schema) {
    const list = Array.isArray(schema.oneOf) ? schema.oneOf : Array.isArray(schema.anyOf) ? schema.anyOf : null;
    if (!list) return null;
    return { options: list.filter((s) => !isNullSchema(s)), nullable: list.some(isNullSchema) };
  }

  function typesOf(schema) {
    if (Array.isArray(schema.type)) return schema.type;
    if (typeof schema.type === 'string') return [schema.type];
    return [];
  }

  // The type of a schema, as words and links: `string (email) or null`, `array of User`.
  function typeNodes(ctx, schema, depth = 0) {
    if (schema === true || (isObject(schema) && Object.keys(schema).length === 0)) return ['any'];
    if (!isObject(schema) || depth > 8) return ['any'];
    const name = schemaName(schema);
    if (name !== null) {
      const id = ctx.schemaIds.get(name);
      return [id ? h('a', { href: `#${id}`, class: 'type-ref' }, name) : code(schema.$ref)];
    }
    if (typeof schema.$ref === 'string') return [code(schema.$ref)];
    const alt = alternatives(schema);
    if (alt) {
      const parts = alt.options.map((s) => typeNodes(ctx, s, depth + 1));
      if (alt.nullable) parts.push(['null']);
      return joinWords(parts, ' or ');
    }
    if (Array.isArray(schema.allOf)) {
      return joinWords(schema.allOf.map((s) => typeNodes(ctx, s, depth + 1)), ' and ');
    }
    const types = typesOf(schema);
    if (types.length === 0) {
      if ('const' in schema) return ['constant ', code(JSON.stringify(schema.const))];
      if (isObject(schema.properties)) return ['object'];
      if (isObject(schema.items)) return ['array of ', ...typeNodes(ctx, schema.items, depth + 1)];
      return ['any'];
    }
    const parts = types
      .filter((t) => t !== 'null')
      .map((t) => oneType(ctx, schema, t, depth));
    if (types.includes('null')) parts.push(['null']);
    return joinWords(parts, ' or ');
  }

  function oneType(ctx, schema, type, depth) {
    if (type === 'array') {
      return isObject(schema.items) ? ['array of ', ...typeNodes(ctx, schema.items, depth + 1)] : ['array'];
    }
    if (type === 'object' && isObject(schema.additionalProperties) && !isObject(schema.properties)) {
      return ['object of ', ...typeNodes(ctx, schema.additionalProperties, depth + 1)];
    }
    return typeof schema.format === 'string' ? [`${type} (${schema.format})`] : [type];
  }

  function joinWords(parts, word) {
    const out = [];
    parts.forEach((part, i) => {
      if (i > 0) out.push(word);
      out.push(...part);
    });
    return out.length ? out : ['any'];
  }

  function bound(n) {
    return typeof n === 'number' && Number.isSafeInteger(Math.trunc(n)) ? String(n) : null;
  }

  // What a schema adds to its type: allowed values, bounds, pattern, default, example.
  function facts(schema) {
    if (!isObject(schema)) return [];
    const out = [];
    const add = (label, ...value) => out.push([label, value]);
    if (Array.isArray(schema.enum)) {
      add('One of', ...joinWords(schema.enum.map((v) => [code(JSON.stringify(v))]), ', '));
    }
    if ('const' in schema && typesOf(schema).length) add('Always', code(JSON.stringify(schema.const)));
    const range = [
      [schema.minimum, 'at least'],
      [schema.exclusiveMinimum, 'more than'],
      [schema.maximum, 'at most'],
      [schema.exclusiveMaximum, 'less than'],
    ]
      .filter(([n]) => bound(n) !== null)
      .map(([n, words]) => `${words} ${bound(n)}`);
    if (range.length) add('Value', range.join(', '));
    const length = [
      [schema.minLength, 'at least'],
      [schema.maxLength, 'at most'],
    ]
      .filter(([n]) => bound(n) !== null)
      .map(([n, words]) => `${words} ${bound(n)}`);
    if (length.length) {
      const n = bound(schema.maxLength) ?? bound(schema.minLength);
      add('Length', `${length.join(', ')} character${n === '1' ? '' : 's'}`);
    }
    const items = [
      [schema.minItems, 'at least'],
      [schema.maxItems, 'at most'],
    ]
      .filter(([n]) => bound(n) !== null)
      .map(([n, words]) => `${words} ${bound(n)}`);
    if (items.length) add('Items', items.join(', ') + (schema.uniqueItems ? ', no duplicates' : ''));
    if (typeof schema.pattern === 'string') add('Pattern', code(schema.pattern));
    if ('default' in schema) add('Default', code(JSON.stringify(schema.default)));
    if ('example' in schema && !isObject(schema.example) && !Array.isArray(schema.example)) {
      add('Example', code(JSON.stringify(schema.example)));
    } else if (Array.isArray(schema.examples) && schema.examples.length && !isObject(schema.examples[0])) {
      add('Example', code(JSON.stringify(schema.examples[0])));
    }
    if (schema.readOnly) add('Read-only', 'sent by the server, never accepted');
    if (schema.writeOnly) add('Write-only', 'accepted, never sent back');
    if (schema.deprecated) add('Deprecated', 'do not use in new clients');
    return out;
  }

  function factsList(schema) {
    const list = facts(schema);
    if (!list.length) return null;
    return h(
      'dl',
      { class: 'facts-inline' },
      list.map(([label, value]) => h('div', null, h('dt', null, label), h('dd', null, value))),
    );
  }

  // ---------------------------------------------------------------------------------------
  // Fields: the properties of object schemas

  // The object a schema describes, with `$ref`s, `allOf` and nullable wrappers resolved:
  // { properties: [[name, schema]], required: Set } or null.
  function objectOf(ctx, schema, depth = 0) {
    const s = deref(ctx, schema);
    if (!isObject(s) || depth > 8) return null;
    const alt = alternatives(s);
    if (alt && alt.options.length === 1) return objectOf(ctx, alt.options[0], depth + 1);
    const properties = [];
    const required = new Set(Array.isArray(s.required) ? s.required : []);
    if (Array.isArray(s.allOf)) {
      for (const part of s.allOf) {
        const o = objectOf(ctx, part, depth + 1);
        if (!o) continue;
        properties.push(...o.properties);
        o.required.forEach((r) => required.add(r));
      }
    }
    properties.push(...entries(s.properties));
    return properties.length ? { properties, required } : null;
  }

  // The item schema of an array schema (through `$ref`s and nullable wrappers), or null.
  function itemsOf(ctx, schema, depth = 0) {
    const s = deref(ctx, schema);
    if (!isObject(s) || depth > 8) return null;
    const alt = alternatives(s);
    if (alt && alt.options.length === 1) return itemsOf(ctx, alt.options[0], depth + 1);
    return isObject(s.items) ? s.items : null;
  }

  // The named schema a body or field stands for (`User`, `array of User`, `User or null`).
  function namedTarget(ctx, schema) {
    let s = schema;
    for (let i = 0; i < 4 && isObject(s); i += 1) {
      const name = schemaName(s);
      if (name !== null) return name;
      const alt = alternatives(s);
      if (alt && alt.options.length === 1) s = alt.options[0];
      else if (Array.isArray(s.allOf) && s.allOf.length === 1) s = s.allOf[0];
      else if (isObject(s.items)) s = s.items;
      else return null;
    }
    return null;
  }

  // The fields of a schema as a list, or null when it has none to show. Inline object schemas
  // nested in a field are shown inside it; named ones are links to their own section.
  function fields(ctx, schema, depth) {
    if (depth > MAX_DEPTH) return null;
    const items = itemsOf(ctx, schema);
    if (items && !objectOf(ctx, schema)) {
      const inner = fields(ctx, items, depth);
      return inner ? h('div', { class: 'items' }, h('p', { class: 'label' }, 'Each item:'), inner) : null;
    }
    const alt = isObject(schema) && !schemaName(schema) ? alternatives(deref(ctx, schema)) : null;
    if (alt && alt.options.length > 1) return variants(ctx, alt.options, depth);
    const object = objectOf(ctx, schema);
    if (!object) return null;
    return h(
      'ul',
      { class: 'props' },
      object.properties.map(([name, prop]) => fieldItem(ctx, name, prop, object.required.has(name), depth)),
    );
  }

  function variants(ctx, options, depth) {
    return h(
      'div',
      { class: 'variants' },
      h('p', { class: 'label' }, 'One of:'),
      h(
        'ol',
        { class: 'variant-list' },
        options.map((option) =>
          h('li', null, h('p', { class: 'prop-type' }, typeNodes(ctx, option)), nested(ctx, option, depth)),
        ),
      ),
    );
  }

  // Fields of a field's own inline schema; a named schema has its section instead.
  function nested(ctx, schema, depth) {
    if (namedTarget(ctx, schema) !== null) return null;
    return fields(ctx, schema, depth + 1);
  }

  function fieldItem(ctx, name, schema, required, depth, extra) {
    const s = isObject(schema) ? schema : {};
    const description = typeof s.description === 'string' ? s.description : '';
    return h(
      'li',
      { class: 'prop' },
      h(
        'p',
        { class: 'prop-head' },
        h('code', { class: 'prop-name' }, name),
        extra || null,
        h('span', { class: 'prop-type' }, typeNodes(ctx, s)),
        required ? h('span', { class: 'badge required' }, 'required') : null,
        s.deprecated ? h('span', { class: 'badge neutral' }, 'deprecated') : null,
      ),
      prose(description, 'prop-desc'),
      factsList(s),
      nested(ctx, s, depth),
    );
  }

  // ---------------------------------------------------------------------------------------
  // Operations

  function securityOf(ctx, op) {
    const list = Array.isArray(op.security) ? op.security : Array.isArray(ctx.doc.security) ? ctx.doc.security : [];
    const label = h('span', { class: 'label-inline' }, 'Authentication: ');
    if (!list.length) return h('p', { class: 'op-auth' }, label, 'none, anyone may call it.');
    const options = list.map((req) => {
      const names = Object.keys(isObject(req) ? req : {});
      if (!names.length) return ['no credentials'];
      return joinWords(names.map((name) => schemeNodes(ctx, name, req[name])), ' and ');
    });
    return h('p', { class: 'op-auth' }, label, joinWords(options, ' or '));
  }

  function schemeNodes(ctx, name, scopes) {
    const id = ctx.schemeIds.get(name);
    const scheme = ctx.schemes[name];
    const words = name.replace(/_/g, ' ');
    const out = [id ? h('a', { href: `#${id}` }, words) : words];
    const kind = isObject(scheme) ? schemeKind(scheme) : null;
    if (kind) out.push(' (', ...kind, ')');
    if (Array.isArray(scopes) && scopes.length) out.push(`, scopes ${scopes.join(', ')}`);
    return out;
  }

  // What a security scheme is, in a few words.
  function schemeKind(scheme) {
    if (scheme.type === 'apiKey') return ['the ', code(String(scheme.name)), ` ${scheme.in}`];
    if (scheme.type === 'http') {
      const s = String(scheme.scheme || '').toLowerCase();
      if (s === 'basic') return ['HTTP Basic'];
      if (s === 'bearer') return ['a bearer token'];
      return [`HTTP ${scheme.scheme}`];
    }
    if (scheme.type === 'oauth2') return ['OAuth 2'];
    if (scheme.type === 'openIdConnect') return ['OpenID Connect'];
    if (scheme.type === 'mutualTLS') return ['mutual TLS'];
    return null;
  }

  // A security scheme as a sentence, for its own section.
  function schemeSentence(scheme) {
    if (scheme.type === 'apiKey') return ['A key in the ', code(String(scheme.name)), ` ${scheme.in}.`];
    if (scheme.type === 'http') {
      const s = String(scheme.scheme || '').toLowerCase();
      if (s === 'basic') return ['HTTP Basic authentication.'];
      if (s === 'bearer') return ['A bearer token in the ', code('Authorization'), ' header.'];
      return ['HTTP ', code(String(scheme.scheme)), ' authentication.'];
    }
    const kind = schemeKind(scheme);
    return kind ? [`${kind[0].charAt(0).toUpperCase()}${kind[0].slice(1)}.`] : [`A ${scheme.type} scheme.`];
  }

  function parameters(ctx, pathItem, op) {
    const all = new Map();
    for (const raw of [...(pathItem.parameters || []), ...(op.parameters || [])]) {
      const p = deref(ctx, raw);
      if (isObject(p) && typeof p.name === 'string') all.set(`${p.in}:${p.name}`, p);
    }
    if (!all.size) return [];
    return [
      h('h4', null, 'Parameters'),
      h(
        'ul',
        { class: 'props' },
        [...all.values()].map((p) => {
          const schema = isObject(p.schema) ? p.schema : firstSchema(p.content);
          const s = { ...schema, description: p.description ?? schema.description, deprecated: p.deprecated || schema.deprecated };
          const where = h('span', { class: 'prop-in' }, `in ${p.in}`);
          return fieldItem(ctx, p.name, s, p.required === true, 0, where);
        }),
      ),
    ];
  }

  function firstSchema(content) {
    const first = entries(content)[0];
    return first && isObject(first[1].schema) ? first[1].schema : {};
  }

  // The media types of a body, those with the same schema together.
  function contentGroups(content) {
    const groups = new Map();
    for (const [type, media] of entries(content)) {
      const m = isObject(media) ? media : {};
      const key = JSON.stringify(m.schema === undefined ? null : m.schema);
      if (!groups.has(key)) groups.set(key, { types: [], media: m });
      groups.get(key).types.push(type);
    }
    return [...groups.values()];
  }

  function exampleOf(media) {
    if ('example' in media) return media.example;
    const first = entries(media.examples)[0];
    if (first && isObject(first[1]) && 'value' in first[1]) return first[1].value;
    return undefined;
  }

  // An example value: inline when it is short, else a block.
  function example(value) {
    const compact = JSON.stringify(value);
    if (compact.length <= 60) return h('p', { class: 'example-line' }, h('span', { class: 'label-inline' }, 'Example: '), code(compact));
    return [h('p', { class: 'label' }, 'Example:'), h('pre', { class: 'example' }, code(json(value)))];
  }

  // A body, by media type. Its fields are shown when `expand` (request bodies and successful
  // answers) and its schema was not shown yet in this operation; error answers name their schema
  // and link to its section.
  function body(ctx, content, expand) {
    return contentGroups(content).map(({ types, media }) => {
      const schema = media.schema;
      const name = isObject(schema) ? namedTarget(ctx, schema) : null;
      const show = expand && !(name !== null && ctx.seen.has(name));
      if (show && name !== null) ctx.seen.add(name);
      const target = name !== null ? deref(ctx, { $ref: SCHEMA_REF + name }) : null;
      const value = exampleOf(media);
      return h(
        'div',
        { class: 'media' },
        h(
          'p',
          { class: 'media-line' },
          h('span', { class: 'label-inline' }, 'Body'),
          ' (',
          joinWords(types.map((t) => [code(t)]), ', '),
          ')',
          isObject(schema) ? [': ', h('span', { class: 'media-schema' }, typeNodes(ctx, schema))] : null,
        ),
        show && target && typeof target.description === 'string' ? prose(target.description, 'prop-desc') : null,
        show && isObject(schema) ? fields(ctx, schema, 0) : null,
        value !== undefined ? example(value) : null,
      );
    });
  }

  function requestBody(ctx, op) {
    const rb = deref(ctx, op.requestBody);
    if (!isObject(rb)) return [];
    return [
      h('h4', null, 'Request body'),
      h(
        'p',
        { class: 'rb-head' },
        rb.required ? h('span', { class: 'badge required' }, 'required') : h('span', { class: 'badge neutral' }, 'optional'),
        typeof rb.description === 'string' ? h('span', null, inline(rb.description)) : null,
      ),
      body(ctx, rb.content, true),
    ];
  }

  function statusClass(status) {
    if (status.startsWith('2')) return 'status status-ok';
    if (status.startsWith('4') || status.startsWith('5')) return 'status status-error';
    return 'status status-other';
  }

  function statusWords(status) {
    if (status === 'default') return 'Any other status';
    if (/^[1-5]XX$/i.test(status)) return `Any ${status[0]}xx status`;
    return REASONS[status] || '';
  }

  function responses(ctx, op) {
    const list = entries(op.responses);
    if (!list.length) return [];
    return [
      h('h4', null, 'Responses'),
      h(
        'ul',
        { class: 'responses' },
        list.map(([status, raw]) => {
          const r = isObject(deref(ctx, raw)) ? deref(ctx, raw) : {};
          const headers = entries(r.headers);
          return h(
            'li',
            { class: 'response' },
            h('h5', null, h('span', { class: statusClass(status) }, status), ' ', statusWords(status)),
            prose(r.description, 'prose'),
            headers.length
              ? [
                  h('p', { class: 'label' }, 'Headers:'),
                  h(
                    'ul',
                    { class: 'props' },
                    headers.map(([name, raw]) => {
                      const hd = isObject(deref(ctx, raw)) ? deref(ctx, raw) : {};
                      const schema = isObject(hd.schema) ? hd.schema : firstSchema(hd.content);
                      return fieldItem(ctx, name, { ...schema, description: hd.description ?? schema.description }, hd.required === true, 0);
                    }),
                  ),
                ]
              : null,
            body(ctx, r.content, !/^[45]/.test(status)),
          );
        }),
      ),
    ];
  }

  function operationSection(ctx, o) {
    ctx.seen = new Set();
    const { op } = o;
    return h(
      'section',
      { class: 'card op', id: o.id },
      h(
        'h3',
        { class: 'op-title' },
        h('span', { class: `method method-${o.method}` }, o.method.toUpperCase()),
        ' ',
        h('code', { class: 'path' }, pathNodes(o.path)),
      ),
      typeof op.summary === 'string' ? h('p', { class: 'op-summary' }, inline(op.summary)) : null,
      op.deprecated ? h('p', null, h('span', { class: 'badge neutral' }, 'deprecated')) : null,
      prose(op.description, 'prose'),
      securityOf(ctx, op),
      parameters(ctx, o.pathItem, op),
      requestBody(ctx, op),
      responses(ctx, op),
    );
  }

  // ---------------------------------------------------------------------------------------
  // The page

  // Every operation, grouped by its first tag, in the order of the document's tags.
  function groups(ctx) {
    const byTag = new Map();
    for (const tag of Array.isArray(ctx.doc.tags) ? ctx.doc.tags : []) {
      if (isObject(tag) && typeof tag.name === 'string') byTag.set(tag.name, { tag, ops: [] });
    }
    for (const [path, rawItem] of entries(ctx.doc.paths)) {
      const pathItem = deref(ctx, rawItem);
      if (!isObject(pathItem)) continue;
      for (const method of METHODS) {
        const op = pathItem[method];
        if (!isObject(op)) continue;
        const tagName = Array.isArray(op.tags) && op.tags.length ? String(op.tags[0]) : 'other';
        if (!byTag.has(tagName)) byTag.set(tagName, { tag: { name: tagName }, ops: [] });
        const id = idFor('op', op.operationId || `${method}-${path}`);
        byTag.get(tagName).ops.push({ method, path, op, pathItem, id });
      }
    }
    return [...byTag.values()]
      .filter((g) => g.ops.length)
      .map((g) => ({ ...g, id: idFor('tag', g.tag.name) }));
  }

  function intro(ctx) {
    const info = isObject(ctx.doc.info) ? ctx.doc.info : {};
    const license = isObject(info.license) && typeof info.license.name === 'string' ? info.license.name : null;
    return h(
      'section',
      { class: 'card intro' },
      h(
        'p',
        { class: 'api-title' },
        h('strong', null, typeof info.title === 'string' ? info.title : 'API'),
        typeof info.version === 'string' ? h('span', { class: 'badge' }, `version ${info.version}`) : null,
        typeof ctx.doc.openapi === 'string' ? h('span', { class: 'badge neutral' }, `OpenAPI ${ctx.doc.openapi}`) : null,
        license ? h('span', { class: 'badge neutral' }, `${license} licence`) : null,
      ),
      typeof info.summary === 'string' ? h('p', { class: 'lead' }, inline(info.summary)) : null,
      prose(info.description, 'prose'),
      h(
        'p',
        { class: 'muted' },
        'Rendered from ',
        h('a', { href: DOCUMENT }, DOCUMENT),
        ', the OpenAPI document this server generates from its own routes.',
      ),
    );
  }

  function contents(ctx, tagGroups) {
    return h(
      'nav',
      { class: 'card toc', 'aria-labelledby': 'toc-title', id: 'contents' },
      h('h2', { id: 'toc-title' }, 'Contents'),
      h(
        'ul',
        { class: 'toc-more' },
        ctx.schemeIds.size ? h('li', null, h('a', { href: '#authentication', class: 'toc-group' }, 'Authentication')) : null,
        ctx.schemaIds.size ? h('li', null, h('a', { href: '#schemas', class: 'toc-group' }, 'Schemas')) : null,
      ),
      h(
        'ul',
        { class: 'toc-groups' },
        tagGroups.map((g) =>
          h(
            'li',
            null,
            h('a', { href: `#${g.id}`, class: 'toc-group' }, g.tag.name),
            h(
              'ul',
              { class: 'toc-ops' },
              g.ops.map((o) =>
                h(
                  'li',
                  null,
                  h(
                    'a',
                    { href: `#${o.id}`, class: 'toc-op' },
                    h('span', { class: `method method-${o.method}` }, o.method.toUpperCase()),
                    ' ',
                    h('span', { class: 'toc-path' }, pathNodes(o.path)),
                    typeof o.op.summary === 'string' ? h('span', { class: 'toc-summary' }, o.op.summary) : null,
                  ),
                ),
              ),
            ),
          ),
        ),
      ),
    );
  }

  function backToContents() {
    return h('p', { class: 'back' }, h('a', { href: '#contents' }, 'Back to contents'));
  }

  function authentication(ctx) {
    if (!ctx.schemeIds.size) return null;
    return h(
      'section',
      { class: 'group', id: 'authentication' },
      h('h2', null, 'Authentication'),
      h('p', { class: 'lead' }, 'The ways an operation can take credentials; each operation says which it accepts.'),
      entries(ctx.schemes).map(([name, raw]) => {
        const scheme = isObject(deref(ctx, raw)) ? deref(ctx, raw) : {};
        const kind = schemeKind(scheme);
        return h(
          'section',
          { class: 'card scheme', id: ctx.schemeIds.get(name) },
          h('h3', null, h('code', null, name)),
          h('p', { class: 'op-summary' }, schemeSentence(scheme)),
          prose(scheme.description, 'prose'),
        );
      }),
    );
  }

  function schemaSections(ctx) {
    if (!ctx.schemaIds.size) return null;
    return h(
      'section',
      { class: 'group', id: 'schemas' },
      h('h2', null, 'Schemas'),
      h('p', { class: 'lead' }, 'The bodies the operations take and answer.'),
      entries(ctx.schemas).map(([name, schema]) => {
        const s = isObject(schema) ? schema : {};
        return h(
          'section',
          { class: 'card schema', id: ctx.schemaIds.get(name) },
          h('h3', null, h('code', null, name)),
          h('p', { class: 'schema-type' }, h('span', { class: 'label-inline' }, 'Type: '), typeNodes(ctx, s)),
          prose(s.description, 'prose'),
          factsList(s),
          fields(ctx, s, 0),
          isObject(s.example) || Array.isArray(s.example) ? example(s.example) : null,
        );
      }),
      backToContents(),
    );
  }

  function render(doc) {
    const ctx = makeContext(doc);
    const tagGroups = groups(ctx);
    const sections = tagGroups.map((g) =>
      h(
        'section',
        { class: 'group', id: g.id },
        h('h2', null, g.tag.name),
        typeof g.tag.description === 'string' ? h('p', { class: 'lead' }, inline(g.tag.description)) : null,
        g.ops.map((o) => operationSection(ctx, o)),
        backToContents(),
      ),
    );
    out.replaceChildren(
      intro(ctx),
      contents(ctx, tagGroups),
      authentication(ctx) || [],
      ...sections,
      schemaSections(ctx) || [],
    );
  }

  function fail(detail) {
    out.replaceChildren();
    statusArea.replaceChildren(
      h(
        'div',
        { class: 'message error', role: 'alert' },
        h('p', { class: 'message-title' }, 'The API description could not be loaded.'),
        detail ? h('p', { class: 'detail' }, detail) : null,
        h('p', { class: 'detail' }, 'Reload the page to try again, or read ', h('a', { href: DOCUMENT }, 'the document itself'), '.'),
      ),
    );
  }

  // After rendering, the browser has missed the fragment of the address: go there now.
  function followHash() {
    const id = decode(location.hash.slice(1));
    const target = id && document.getElementById(id);
    if (target) target.scrollIntoView();
  }

  async function load() {
    let resp;
    try {
      resp = await fetch(DOCUMENT, { headers: { Accept: 'application/json' }, credentials: 'same-origin' });
    } catch (_) {
      fail('The server could not be reached.');
      return;
    }
    if (!resp.ok) {
      fail(`The server answered ${resp.status}${resp.statusText ? ` ${resp.statusText}` : ''}.`);
      return;
    }
    let doc;
    try {
      doc = await resp.json();
    } catch (_) {
      fail('The answer is not valid JSON.');
      return;
    }
    if (!isObject(doc) || !isObject(doc.paths)) {
      fail('The answer is not an OpenAPI document.');
      return;
    }
    try {
      render(doc);
    } catch (err) {
      fail(`It could not be rendered (${err && err.message ? err.message : err}).`);
      return;
    }
    statusArea.replaceChildren();
    followHash();
  }

  if (main && statusArea && out) load();
})();
