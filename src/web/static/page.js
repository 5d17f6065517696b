// The verification page's three answers. 签名: the payload's Ed25519 signature, checked
// here in the browser with WebCrypto, or with the vendored noble-ed25519 3.1.0 where the
// browser's WebCrypto has no Ed25519. 签发: the signing key in the published key list,
// whose own signature is checked the same way. 状态: asked of the service; when it cannot
// answer, the page says so and the signature verdict stands.
'use strict';

const data = JSON.parse(document.getElementById('data').textContent);
const T = data.text;
const $ = (id) => document.getElementById(id);

function bytes(hex) {
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.substr(i * 2, 2), 16);
  return out;
}

function fill(s, vars) {
  return s.replace(/\{(\w+)\}/g, (_, k) => vars[k] ?? '');
}

function answer(section, state, verdict, explain) {
  $(section).dataset.state = state;
  $(section + '-verdict').textContent = verdict;
  if (explain !== undefined) $(section + '-explain').textContent = explain;
}

let engine = null;
async function ed25519(publicKey, signature, message) {
  try {
    const key = await crypto.subtle.importKey('raw', publicKey, { name: 'Ed25519' }, false, ['verify']);
    const ok = await crypto.subtle.verify({ name: 'Ed25519' }, key, signature, message);
    engine = engine || 'webcrypto';
    return ok;
  } catch (e) {
    if (!(globalThis.crypto && crypto.subtle)) throw new Error('no cryptography');
    const noble = await import('/static/vendor/noble-ed25519-3.1.0.js');
    engine = 'noble';
    // Strict RFC 8032 checks, as the service's own verifier makes.
    return noble.verifyAsync(signature, message, publicKey, { zip215: false });
  }
}

// RFC 8785 canonical JSON of the key list (ASCII strings and booleans only).
function jcs(v) {
  if (Array.isArray(v)) return '[' + v.map(jcs).join(',') + ']';
  if (v && typeof v === 'object') {
    return '{' + Object.keys(v).sort().map((k) => JSON.stringify(k) + ':' + jcs(v[k])).join(',') + '}';
  }
  return JSON.stringify(v);
}

async function checkSignature() {
  const list = data.keys;
  const key = list.keys.find((k) => k.key_id === data.key_id);
  const signer = list.keys.find((k) => k.key_id === list.signed_by);
  if (!key) {
    answer('signature', 'bad', T.not_genuine, T.unknown_key);
    answer('issuance', 'bad', '—', T.unknown_key);
    return false;
  }
  const ok = await ed25519(bytes(key.public_key_hex), bytes(data.signature_hex), bytes(data.signed_hex));
  if (!ok) {
    answer('signature', 'bad', T.not_genuine, T.bad_signature);
    answer('issuance', 'bad', '—', T.bad_signature);
    return false;
  }
  answer('signature', 'good', T.genuine, engine === 'noble' ? T.checked_noble : T.checked_webcrypto);
  const listOk = signer &&
    (await ed25519(bytes(signer.public_key_hex), bytes(list.signature_hex), new TextEncoder().encode(jcs(list.keys))));
  const until = key.valid_until ? fill(T.key_retired, { until: key.valid_until }) : T.key_in_use;
  answer(
    'issuance',
    listOk ? 'good' : 'bad',
    T.key + ' ' + key.key_id + ' — ' + fill(T.key_window, { from: key.valid_from, until }),
    listOk ? fill(T.keylist_ok, { signer: list.signed_by }) : T.keylist_bad,
  );
  return true;
}

async function checkStatus() {
  let r;
  try {
    r = await fetch('/api/v1/verify', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ qr_payload: data.payload }),
    });
  } catch (e) {
    return { unavailable: T.status_network };
  }
  if (!r.ok) {
    if (r.status === 429) return { unavailable: T.status_rate_limited };
    let why = 'HTTP ' + r.status;
    try {
      why = (await r.json()).error.message || why;
    } catch (e) {}
    return { unavailable: why };
  }
  return { answer: await r.json() };
}

function showStatus(result) {
  if (result.unavailable !== undefined) {
    answer('status', 'unknown', T.status_unavailable, fill(T.status_unavailable_explain, { why: result.unavailable }));
    return null;
  }
  const v = result.answer;
  if (!v.authentic) {
    answer('status', 'bad', T.not_genuine, T.status_mismatch);
    return 'mismatch';
  }
  const words = T.status[v.status] || v.status;
  const since = v.status_since ? fill(T.status_since, { date: v.status_since }) : '';
  const time = new Date(v.checked_at).toLocaleString(T.code === 'zh' ? 'zh-CN' : 'en-GB');
  answer('status', v.status === 'VALID' ? 'good' : 'bad', words + since, fill(T.status_checked, { time }));
  if (v.status === 'SUPERSEDED' && v.current_identifier) {
    const p = document.createElement('p');
    p.className = 'explain';
    p.append(T.superseded + ' ');
    const a = document.createElement('a');
    a.href = '/v/?id=' + encodeURIComponent(v.current_identifier) + '&lang=' + T.code;
    a.id = 'current-version';
    a.textContent = v.current_identifier;
    p.append(a);
    $('status').append(p);
  }
  if (v.copy && $('copy')) {
    $('copy').dataset.state = v.copy.valid ? 'good' : 'bad';
    $('copy-explain').textContent = v.copy.valid ? T.copy_valid : T.copy_expired;
  }
  if (v.licence) {
    const dl = $('fields');
    for (const f of v.licence.fields) {
      const dt = document.createElement('dt');
      dt.textContent = f.name;
      const dd = document.createElement('dd');
      dd.textContent = f.value;
      dl.append(dt, dd);
    }
  }
  const copyOk = !v.copy || v.copy.valid;
  return v.status === 'VALID' && copyOk ? 'valid' : words;
}

function summarise(genuine, status) {
  const s = $('summary');
  if (!genuine || status === 'mismatch') {
    s.dataset.state = 'bad';
    s.textContent = T.summary_fake;
  } else if (status === null) {
    s.dataset.state = 'unknown';
    s.textContent = T.summary_unchecked;
  } else if (status === 'valid') {
    s.dataset.state = 'good';
    s.textContent = T.summary_valid;
  } else {
    s.dataset.state = 'bad';
    s.textContent = fill(T.summary_not_valid, { status: status === 'valid' ? '' : (typeof status === 'string' ? status : T.copy_expired) });
  }
  document.body.dataset.done = 'true';
}

(async () => {
  const statusAsked = checkStatus();
  let genuine = false;
  try {
    genuine = await checkSignature();
  } catch (e) {
    answer('signature', 'unknown', '⚠', T.cannot_check);
  }
  if (!genuine) {
    answer('status', 'bad', '—', T.bad_signature);
    summarise(false, null);
    return;
  }
  summarise(true, showStatus(await statusAsked));
})();
