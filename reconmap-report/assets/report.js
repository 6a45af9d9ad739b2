(function () {
  'use strict';
  // The per-target table: decodes the columnar data embedded in the page, filters and pages
  // it, and renders only the visible rows (and a row's details when it is opened). Every text
  // from the records goes through textContent, never through HTML parsing.
  var t0 = performance.now();
  var D, S, C, H = null, st, filtered = new Int32Array(0), hayBuilt = false;

  function $(id) { return document.getElementById(id); }
  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }
  function s(i) { return (i > 0 && i < S.length) ? S[i] : ''; }
  function asLabel(asn) {
    if (!asn) return '';
    var n = D.asnames[asn];
    return n ? 'AS' + asn + ' ' + n : 'AS' + asn;
  }

  function loadData() {
    var node = $('rm-data');
    var enc = node.getAttribute('data-encoding');
    var text = node.textContent;
    if (enc === 'json') return Promise.resolve(JSON.parse(text));
    if (enc !== 'gzip+base64') return Promise.reject(new Error('unknown data encoding ' + enc));
    var bin = atob(text.trim());
    var bytes = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
    var stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream('gzip'));
    return new Response(stream).text().then(JSON.parse);
  }

  // ---- state in the URL hash: #q=..&verdict=..&vantage=..&as=..&class=..&diff=1&page=..&open=..
  function defaults() {
    return { q: '', verdict: '', vantage: '', as: 0, cls: '', diff: false, page: 0, open: -1, size: 50, view: '' };
  }
  function readHash() {
    var x = defaults();
    var h = location.hash.replace(/^#/, '');
    if (!h) return x;
    h.split('&').forEach(function (kv) {
      var p = kv.indexOf('=');
      var k = p < 0 ? kv : kv.slice(0, p);
      var v = p < 0 ? '' : kv.slice(p + 1);
      try { v = decodeURIComponent(v.replace(/\+/g, ' ')); } catch (e) { v = ''; }
      if (k === 'q') x.q = v;
      else if (k === 'verdict') x.verdict = v;
      else if (k === 'vantage') x.vantage = v;
      else if (k === 'as') x.as = parseInt(v, 10) || 0;
      else if (k === 'class') x.cls = v;
      else if (k === 'diff') x.diff = v === '1';
      else if (k === 'page') x.page = Math.max(0, (parseInt(v, 10) || 1) - 1);
      else if (k === 'open') x.open = (parseInt(v, 10) || 0) - 1;  // the row's # (1-based)
      else if (k === 'view') x.view = v;
      else if (k === 'size') x.size = [25, 50, 100, 250].indexOf(+v) >= 0 ? +v : 50;
    });
    return x;
  }
  function writeHash() {
    var parts = [];
    if (st.q) parts.push('q=' + encodeURIComponent(st.q));
    if (st.verdict) parts.push('verdict=' + encodeURIComponent(st.verdict));
    if (st.vantage) parts.push('vantage=' + encodeURIComponent(st.vantage));
    if (st.as) parts.push('as=' + st.as);
    if (st.cls) parts.push('class=' + encodeURIComponent(st.cls));
    if (st.diff) parts.push('diff=1');
    if (st.page) parts.push('page=' + (st.page + 1));
    if (st.open >= 0) parts.push('open=' + (st.open + 1));
    if (st.size !== 50) parts.push('size=' + st.size);
    if (st.view) parts.push('view=' + encodeURIComponent(st.view));
    var h = parts.length ? '#' + parts.join('&') : ' ';
    try { history.replaceState(null, '', h === ' ' ? location.pathname + location.search : h); } catch (e) { /* file:// may refuse */ }
  }

  // ---- filtering
  function indexOfName(list, name) {
    for (var i = 0; i < list.length; i++) if (list[i].name === name) return i;
    return -2;
  }
  function buildHay() {
    H = new Array(D.n);
    var G = D.hops.g, ho = C.ho;
    for (var i = 0; i < D.n; i++) {
      var parts = [s(C.t[i]), D.vantages[C.va[i]] ? D.vantages[C.va[i]].name : '',
        D.verdicts[C.vd[i]] ? D.verdicts[C.vd[i]].name : '', s(C.sg[i]), s(C.re[i]), s(C.ru[i]),
        asLabel(C.sa[i]), asLabel(C.ta[i])];
      for (var k = ho[i]; k < ho[i + 1]; k++) {
        var sig = D.sigs[G[k]];
        if (sig && sig[1]) parts.push(s(sig[1]));
      }
      H[i] = parts.join(' ').toLowerCase();
    }
    hayBuilt = true;
  }
  function hasAs(i, asn) {
    if (C.sa[i] === asn || C.ta[i] === asn) return true;
    var v = D.vantages[C.va[i]];
    if (v && v.asn === asn) return true;
    for (var k = C.ho[i]; k < C.ho[i + 1]; k++) {
      var sig = D.sigs[D.hops.g[k]];
      if (sig && sig[2] === asn) return true;
    }
    return false;
  }
  function applyFilter() {
    var vd = st.verdict ? indexOfName(D.verdicts, st.verdict) : -1;
    var va = st.vantage ? indexOfName(D.vantages, st.vantage) : -1;
    var cl = -3;
    if (st.cls === 'none') cl = -1;
    else if (st.cls) cl = indexOfName(D.classes, st.cls);
    var q = st.q.trim().toLowerCase();
    if (q && !hayBuilt) buildHay();
    var out = new Int32Array(D.n), m = 0;
    for (var i = 0; i < D.n; i++) {
      if (vd !== -1 && C.vd[i] !== vd) continue;
      if (va !== -1 && C.va[i] !== va) continue;
      if (cl !== -3 && C.cl[i] !== cl) continue;
      if (st.diff && !C.df[i]) continue;
      if (st.as && !hasAs(i, st.as)) continue;
      if (q && H[i].indexOf(q) < 0) continue;
      out[m++] = i;
    }
    filtered = out.subarray(0, m);
  }

  // ---- rendering
  function verdictPill(i) {
    var v = D.verdicts[C.vd[i]] || { name: '?', color: '#888' };
    var p = el('span', 'pill', v.name);
    p.style.background = v.color;
    p.title = v.meaning || '';
    return p;
  }
  function classText(i) {
    var c = C.cl[i];
    if (c < 0) return '';
    var name = D.classes[c] ? D.classes[c].name.replace(/_/g, ' ') : '?';
    return C.ad[i] ? name + '*' : name;
  }
  function renderRows() {
    var tbody = $('rows');
    tbody.textContent = '';
    var pages = Math.max(1, Math.ceil(filtered.length / st.size));
    if (st.page >= pages) st.page = pages - 1;
    var from = st.page * st.size, to = Math.min(filtered.length, from + st.size);
    var frag = document.createDocumentFragment();
    for (var k = from; k < to; k++) {
      var i = filtered[k];
      var tr = el('tr', 'row');
      tr.setAttribute('data-i', String(i));
      tr.appendChild(el('td', 'num', i + 1));
      tr.appendChild(el('td', 'mono', s(C.t[i])));
      tr.appendChild(el('td', '', D.vantages[C.va[i]] ? D.vantages[C.va[i]].name : ''));
      var tdv = el('td', 'nowrap');
      tdv.appendChild(verdictPill(i));
      if (C.df[i]) tdv.appendChild(el('span', 'diffmark', C.df[i] === 1 ? ' ≠' : ' ≈'));
      tr.appendChild(tdv);
      tr.appendChild(el('td', '', classText(i)));
      tr.appendChild(el('td', 'mono', s(C.sg[i])));
      tr.appendChild(el('td', '', asLabel(C.sa[i])));
      tr.appendChild(el('td', 'reason', s(C.re[i])));
      frag.appendChild(tr);
      if (st.open === i) {
        tr.classList.add('open');
        frag.appendChild(detailRow(i));
      }
    }
    tbody.appendChild(frag);
    $('count').textContent = filtered.length === D.n
      ? D.n + ' records'
      : filtered.length + ' of ' + D.n + ' records match';
    $('page').textContent = filtered.length ? 'page ' + (st.page + 1) + ' of ' + pages + ' (rows ' + (from + 1) + '–' + to + ')' : 'no rows';
    $('prev').disabled = st.page <= 0;
    $('next').disabled = st.page >= pages - 1;
    document.body.setAttribute('data-rows-shown', String(to - from));
    document.body.setAttribute('data-rows-matching', String(filtered.length));
  }

  function kv(dl, key, value) {
    if (value === '' || value === null || value === undefined) return;
    dl.appendChild(el('dt', '', key));
    dl.appendChild(el('dd', '', value));
  }
  function replyText(row, pos) {
    // Reply at `pos`: line count + 1 (0: none), code, line ids.
    var len = row[pos];
    if (!len) return { text: '', next: pos + 1 };
    var code = row[pos + 1], lines = [];
    for (var k = 0; k < len - 1; k++) lines.push((code >= 0 ? code + ' ' : '') + s(row[pos + 2 + k]));
    if (!lines.length && code >= 0) lines.push(String(code));
    return { text: lines.join('\n'), next: pos + 1 + len };
  }
  function hopTable(i) {
    var table = el('table', 'hops');
    var head = el('tr');
    ['TTL', 'address', 'AS', 'RTT ms', 'ICMP', 'quote', 'payload', 'quoted payload', 'header changes', ''].forEach(function (h) {
      head.appendChild(el('th', '', h));
    });
    var thead = el('thead'); thead.appendChild(head); table.appendChild(thead);
    var tb = el('tbody');
    var end = s(C.se[i]);
    for (var k = C.ho[i]; k < C.ho[i + 1]; k++) {
      var g = D.sigs[D.hops.g[k]] || [];
      var rtt = D.hops.r[k];
      var addr = s(g[1]);
      var tr = el('tr');
      var payload = s(g[3]);
      tr.className = 'p-' + payload.replace(/[^a-z_]/g, '');
      if (addr && end && end.indexOf(addr) === 0) tr.classList.add('seg-end');
      tr.appendChild(el('td', 'num', g[0] >= 0 ? g[0] : ''));
      tr.appendChild(el('td', 'mono', addr || '*'));
      tr.appendChild(el('td', '', g[2] > 0 ? asLabel(g[2]) : ''));
      tr.appendChild(el('td', 'num', rtt >= 0 ? (rtt / 100).toFixed(2) : ''));
      tr.appendChild(el('td', '', s(g[5])));
      tr.appendChild(el('td', 'num', g[8] >= 0 ? g[8] + ' B' : ''));
      tr.appendChild(el('td', 'payload', payload));
      tr.appendChild(el('td', 'mono', s(g[4])));
      tr.appendChild(el('td', 'mono', s(g[9])));
      var flags = [];
      if (g[7]) flags.push('shared');
      if (g[6] > 1) flags.push(g[6] + ' attempts');
      tr.appendChild(el('td', 'flags', flags.join(', ')));
      tb.appendChild(tr);
    }
    table.appendChild(tb);
    if (C.ho[i] === C.ho[i + 1]) return el('p', 'muted', 'No hops: the sweep did not run (no STARTTLS was sent).');
    return table;
  }
  function smtpBlock(i) {
    var row = C.sm[i] >= 0 ? D.smtp[C.sm[i]] : null;
    var box = el('div', 'block');
    box.appendChild(el('h4', '', 'SMTP'));
    if (!row) { box.appendChild(el('p', 'muted', 'no SMTP facts')); return box; }
    var dl = el('dl');
    var flags = row[0], pos = 5;
    var names = ['banner', 'HELO', 'EHLO', 'STARTTLS reply', 'QUIT reply'];
    var replies = [];
    for (var k = 0; k < names.length; k++) {
      var r = replyText(row, pos);
      replies.push(r.text);
      pos = r.next;
    }
    kv(dl, 'STARTTLS advertised', flags & 4 ? 'yes' : 'no');
    kv(dl, 'STARTTLS sent', flags & 8 ? 'yes' : 'no');
    if (flags & 1) kv(dl, 'banner masked', 'yes (PIX-style)');
    if (flags & 2) kv(dl, 'HELO fallback', 'yes');
    kv(dl, 'masked keywords', s(row[3]));
    kv(dl, 'echoed command', s(row[2]));
    kv(dl, 'closed by server in', s(row[4]));
    kv(dl, 'error', s(row[1]));
    box.appendChild(dl);
    for (var j = 0; j < names.length; j++) {
      if (!replies[j]) continue;
      box.appendChild(el('div', 'label', names[j]));
      box.appendChild(el('pre', 'reply', replies[j]));
    }
    return box;
  }
  function tcpBlock(i) {
    var row = C.tc[i] >= 0 ? D.tcp[C.tc[i]] : null;
    var box = el('div', 'block');
    box.appendChild(el('h4', '', 'TCP'));
    if (!row) { box.appendChild(el('p', 'muted', 'no TCP facts')); return box; }
    var dl = el('dl');
    kv(dl, 'connect', s(row[0]));
    kv(dl, 'server TTL', row[1] >= 0 ? row[1] : '');
    kv(dl, 'server distance', row[2] >= 0 ? row[2] + ' hops' : '');
    if (row[3] & 1) kv(dl, 'STARTTLS', 'never acknowledged');
    if (row[3] & 2) kv(dl, 'closed by peer', 'yes');
    for (var k = 0; k < row[4]; k++) {
      var b = 5 + k * 4;
      kv(dl, 'RST ' + (k + 1), 'TTL ' + row[b] + (row[b + 1] >= 0 ? ' (server ' + row[b + 1] + ')' : '') +
        (row[b + 2] ? ', after STARTTLS' : '') + (row[b + 3] >= 0 ? ', at ' + (row[b + 3] / 1000).toFixed(3) + ' ms' : ''));
    }
    box.appendChild(dl);
    return box;
  }
  function yesNo(v) { return v === 1 ? 'yes' : v === 0 ? 'no' : ''; }
  function tlsBlock(i) {
    var t = C.tl[i] >= 0 ? D.tls[C.tl[i]] : null;
    var box = el('div', 'block');
    box.appendChild(el('h4', '', 'TLS'));
    if (!t) { box.appendChild(el('p', 'muted', 'no TLS handshake recorded')); return box; }
    var dl = el('dl');
    kv(dl, 'probe', s(t[14]));
    kv(dl, 'version', s(t[0])); kv(dl, 'cipher', s(t[1]));
    kv(dl, 'handshake', t[2] >= 0 ? (t[2] / 1000) + ' ms' : '');
    kv(dl, 'SNI', s(t[3]));
    kv(dl, 'chain valid', yesNo(t[4]));
    kv(dl, 'chain error', s(t[11]));
    kv(dl, 'name matches', yesNo(t[5]));
    kv(dl, 'ServerHello', [s(t[9]), s(t[10])].filter(Boolean).join(' '));
    kv(dl, 'downgrade sentinel', s(t[13]));
    var failure = [t[6] && 'at ' + s(t[6]), t[7] && 'alert ' + s(t[7]) + (t[12] ? ' (sent by ' + s(t[12]) + ')' : ''), s(t[8])]
      .filter(Boolean).join(', ');
    kv(dl, 'failure', failure);
    box.appendChild(dl);
    for (var k = 0; k < t[15]; k++) {
      var b = 16 + k * 9;
      var cd = el('dl', 'cert');
      kv(cd, 'certificate ' + k, s(t[b]));
      kv(cd, 'issuer', s(t[b + 1]));
      kv(cd, 'SAN', s(t[b + 2]));
      kv(cd, 'valid', [s(t[b + 3]), s(t[b + 4])].filter(Boolean).join(' → '));
      kv(cd, 'key', [s(t[b + 5]), t[b + 6] >= 0 ? t[b + 6] : ''].filter(Boolean).join(' '));
      kv(cd, 'SHA-256', s(t[b + 7]));
      kv(cd, 'parse error', s(t[b + 8]));
      box.appendChild(cd);
    }
    return box;
  }
  function detailRow(i) {
    var tr = el('tr', 'detail');
    var td = el('td');
    td.colSpan = 8;
    var facts = el('dl', 'facts');
    var v = D.verdicts[C.vd[i]] || {};
    kv(facts, 'target', s(C.t[i]));
    var vp = D.vantages[C.va[i]];
    kv(facts, 'vantage point', vp ? vp.name + (vp.asn ? ' (' + asLabel(vp.asn) + ')' : '') : '');
    kv(facts, 'verdict', (v.name || '') + (v.meaning ? ': ' + v.meaning : ''));
    kv(facts, 'rule', s(C.ru[i]));
    kv(facts, 'reason', s(C.re[i]));
    kv(facts, 'segment', s(C.sg[i]));
    if (C.cl[i] >= 0) {
      kv(facts, 'placed in', (D.classes[C.cl[i]] || {}).label + (C.ad[i] ? ' (derived here from segment ASes)' : ''));
    }
    kv(facts, 'attribution', s(C.ex[i]));
    kv(facts, 'target AS', asLabel(C.ta[i]));
    kv(facts, 'started', s(C.st[i]));
    if (C.df[i]) kv(facts, 'vantage points', C.df[i] === 1 ? 'other vantage points see another verdict' : 'other vantage points see the tampering elsewhere');
    td.appendChild(facts);
    td.appendChild(el('h4', '', 'Hops'));
    td.appendChild(hopTable(i));
    var grid = el('div', 'blocks');
    grid.appendChild(smtpBlock(i));
    grid.appendChild(tcpBlock(i));
    grid.appendChild(tlsBlock(i));
    td.appendChild(grid);
    var ev = s(C.ev[i]), er = s(C.er[i]);
    if (ev) {
      td.appendChild(el('h4', '', 'Evidence'));
      var ul = el('ul');
      ev.split('\n').forEach(function (line) { ul.appendChild(el('li', '', line)); });
      td.appendChild(ul);
    }
    if (er) {
      td.appendChild(el('h4', '', 'Errors'));
      var ul2 = el('ul');
      er.split('\n').forEach(function (line) { ul2.appendChild(el('li', '', line)); });
      td.appendChild(ul2);
    }
    tr.appendChild(td);
    return tr;
  }

  // ---- controls
  function option(select, value, text) {
    var o = el('option', '', text);
    o.value = value;
    select.appendChild(o);
  }
  function counts(col, size) {
    var c = new Array(size).fill(0);
    for (var i = 0; i < D.n; i++) if (col[i] >= 0 && col[i] < size) c[col[i]]++;
    return c;
  }
  function setupControls() {
    var vc = counts(C.vd, D.verdicts.length);
    var fv = $('f-verdict');
    option(fv, '', 'all verdicts');
    D.verdicts.forEach(function (v, k) { option(fv, v.name, v.name + ' (' + vc[k] + ')'); });
    var vac = counts(C.va, D.vantages.length);
    var fva = $('f-vantage');
    option(fva, '', 'all vantage points');
    D.vantages.forEach(function (v, k) { option(fva, v.name, v.name + ' (' + vac[k] + ')'); });
    var fc = $('f-class');
    option(fc, '', 'anywhere');
    option(fc, 'none', 'no tampering');
    D.classes.forEach(function (c) { option(fc, c.name, c.label); });
    var fa = $('f-as');
    option(fa, '0', 'any AS');
    D.asfilter.forEach(function (a) { option(fa, String(a[0]), asLabel(a[0]) + ' (' + a[1] + ')'); });
    syncControls();

    var timer = null;
    $('f-q').addEventListener('input', function () {
      clearTimeout(timer);
      timer = setTimeout(function () { st.q = $('f-q').value; st.page = 0; update(); }, 150);
    });
    fv.addEventListener('change', function () { st.verdict = fv.value; st.page = 0; update(); });
    fva.addEventListener('change', function () { st.vantage = fva.value; st.page = 0; update(); });
    fc.addEventListener('change', function () { st.cls = fc.value; st.page = 0; update(); });
    fa.addEventListener('change', function () { st.as = parseInt(fa.value, 10) || 0; st.page = 0; update(); });
    $('f-diff').addEventListener('change', function () { st.diff = $('f-diff').checked; st.page = 0; update(); });
    $('f-size').addEventListener('change', function () { st.size = +$('f-size').value || 50; st.page = 0; update(); });
    $('f-reset').addEventListener('click', function () { var view = st.view; st = defaults(); st.view = view; syncControls(); update(); });
    $('prev').addEventListener('click', function () { if (st.page > 0) { st.page--; st.open = -1; renderRows(); writeHash(); } });
    $('next').addEventListener('click', function () { st.page++; st.open = -1; renderRows(); writeHash(); });
    $('rows').addEventListener('click', function (e) {
      var tr = e.target.closest ? e.target.closest('tr.row') : null;
      if (!tr) return;
      var i = parseInt(tr.getAttribute('data-i'), 10);
      st.open = st.open === i ? -1 : i;
      renderRows();
      writeHash();
    });
    window.addEventListener('hashchange', function () {
      st = readHash();
      syncControls();
      applyFilter();
      renderRows();
    });
  }
  function syncControls() {
    $('f-q').value = st.q;
    $('f-verdict').value = st.verdict;
    $('f-vantage').value = st.vantage;
    $('f-class').value = st.cls;
    $('f-as').value = String(st.as);
    if ($('f-as').value !== String(st.as)) {
      // An AS outside the offered list (a link from the tables above): add it.
      option($('f-as'), String(st.as), asLabel(st.as));
      $('f-as').value = String(st.as);
    }
    $('f-diff').checked = st.diff;
    $('f-size').value = String(st.size);
  }
  function update() {
    st.open = -1;
    applyFilter();
    renderRows();
    writeHash();
  }

  function start(data) {
    D = data; S = D.s; C = D.cols;
    // Hop offsets from the per-record hop counts.
    C.ho = new Int32Array(D.n + 1);
    for (var i = 0; i < D.n; i++) C.ho[i + 1] = C.ho[i] + C.hn[i];
    st = readHash();
    setupControls();
    applyFilter();
    renderRows();
    $('targets-ui').hidden = false;
    $('targets-loading').hidden = true;
    var body = document.body;
    body.setAttribute('data-script-ms', (performance.now() - t0).toFixed(1));
    body.setAttribute('data-render-ms', performance.now().toFixed(1));
    body.setAttribute('data-ready', '1');
  }

  // `#view=map` (or run, answer, compare, targets): only the header and that section, for
  // screenshots, projectors and shared links.
  var only = /(?:^#|&)view=(run|answer|map|compare|targets)(?:&|$)/.exec(location.hash);
  if (only) {
    document.body.classList.add('view-only');
    var section = $('sec-' + only[1]);
    if (section) section.classList.add('shown');
  }

  Promise.resolve().then(loadData).then(start).catch(function (e) {
    if (window.__reconmapError) window.__reconmapError('report data: ' + (e && e.stack ? e.stack : e));
    var l = $('targets-loading');
    if (l) l.textContent = 'The per-target table could not be built: ' + e;
    document.body.setAttribute('data-ready', 'error');
  });
})();
