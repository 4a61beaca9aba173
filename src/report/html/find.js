(function () {
  // "Find a row" of report.html: reads the compact rows of #kx-rows (format: data.rs) and shows
  // the rows whose nomorAju or BL/AWB holds the text typed. The rows are decoded on the first
  // search, not when the page opens. Values only ever reach the page as text nodes.
  'use strict';
  var D = '0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-_';
  var SHOW = 50, SNAP = 256;
  var data = document.getElementById('kx-rows');
  var box = document.getElementById('kx-find');
  var q = document.getElementById('kx-q');
  var st = document.getElementById('kx-st');
  var out = document.getElementById('kx-out');
  var res = document.getElementById('kx-res');
  if (!data || !box || !q || !st || !out || !res) return;
  box.hidden = false;

  var lines, head, rowC, photoC, aju, bl, stat, snaps, broken;

  function unesc(t) {
    if (t.indexOf('\\') < 0) return t;
    return t.replace(/\\(u[0-9a-fA-F]{4}|[\s\S])/g, function (m, c) {
      if (c.length > 1) return String.fromCharCode(parseInt(c.slice(1), 16));
      return c === 't' ? '\t' : c === 'n' ? '\n' : c === 'r' ? '\r' : c;
    });
  }
  function text(prev, t) {
    var p = D.indexOf(t.charAt(0)), s = D.indexOf(t.charAt(1));
    if (p < 0 || s < 0) throw new Error('bad token');
    return prev.slice(0, p) + unesc(t.slice(2)) + (s > 0 ? prev.slice(prev.length - s) : '');
  }
  function untemplate(t, b) {
    if (t.indexOf('%') < 0) return t;
    return t.replace(/%([\s\S])/g, function (m, c) { return c === 'b' ? b : c; });
  }
  function field(codec, prev, t) {
    if (t === undefined) throw new Error('missing token');
    return codec === 't' || codec === 'T' ? text(prev, t) : unesc(t);
  }
  function hex(t) {
    if (t.charAt(0) === '!') return unesc(t.slice(1));
    var b = atob(t + '='), h = '';
    for (var i = 0; i < b.length; i++) h += (b.charCodeAt(i) + 256).toString(16).slice(1);
    return h;
  }
  function copy(s) {
    return { row: s.row, f: s.f.slice(), p: s.p.map(function (a) { return a.slice(); }) };
  }
  function blank(n) { var a = []; while (a.length < n) a.push(''); return a; }

  // Decode line `i` (0-based row index) into state `s`; return the row's values when `full`.
  function step(s, i, full) {
    var tk = lines[i + 1].split('\t'), m = tk[0], k = 1, j, x;
    function bit(b) {
      var c = (b / 6) | 0;
      return c < m.length && ((D.indexOf(m.charAt(c)) >> (b % 6)) & 1) === 1;
    }
    s.row = bit(0) ? parseInt(tk[k++], 36) : s.row + 1;
    for (j = 1; j < rowC.length; j++) if (bit(j)) s.f[j] = field(rowC[j], s.f[j], tk[k++]);
    var n = parseInt(s.f[19], 36) || 0, b = s.f[1], photos = [];
    for (j = 0; j < n; j++) {
      if (!s.p[j]) s.p[j] = blank(photoC.length);
      var sha = tk[k++];
      for (x = 0; x < photoC.length; x++) {
        if (bit(rowC.length + j * photoC.length + x)) s.p[j][x] = field(photoC[x], s.p[j][x], tk[k++]);
      }
      if (full) {
        var v = s.p[j].map(function (t, y) { return photoC[y] === 'T' ? untemplate(t, b) : t; });
        photos.push({ sha: hex(sha), v: v });
      }
    }
    if (!full) return null;
    var f = s.f.map(function (t, y) { return rowC[y] === 'T' ? untemplate(t, b) : t; });
    return { row: s.row, f: f, photos: photos };
  }

  function index() {
    if (lines || broken) return !broken;
    try {
      lines = data.textContent.split('\n');
      head = lines[0].split('\t');
      if (head[0] !== 'kx1') throw new Error('unknown format ' + head[0]);
      rowC = head[3]; photoC = head[4];
      var n = +head[1], s = { row: 1, f: blank(rowC.length), p: [] };
      aju = []; bl = []; stat = []; snaps = [];
      for (var i = 0; i < n; i++) {
        if (i % SNAP === 0) snaps.push(copy(s));
        step(s, i, false);
        aju.push(untemplate(s.f[2], s.f[1]).toLowerCase());
        bl.push(s.f[1].toLowerCase());
        stat.push(s.f[3]);
      }
    } catch (e) {
      broken = true;
      out.textContent = 'The rows in this file cannot be read (' + e.message + '); use results.csv and images.csv.';
    }
    return !broken;
  }
  function rowAt(i) {
    var s = copy(snaps[(i / SNAP) | 0]);
    for (var k = i - (i % SNAP); k < i; k++) step(s, k, false);
    return step(s, i, true);
  }

  function el(tag, cls, txt) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (txt !== undefined) e.textContent = txt;
    return e;
  }
  function td(tr, cls, txt) { var c = el('td', cls, txt); tr.appendChild(c); return c; }
  function names(v) { return v ? v.split('\n').join(', ') : ''; }
  function n36(v) { return v === '-' ? '\u2014' : String(parseInt(v, 36)); }

  function render(r, body) {
    var f = r.f, tr = el('tr'), c;
    tr.id = 'find-row-' + r.row;
    td(tr, 'n', String(r.row));
    td(tr).appendChild(el('span', 'st st-' + f[3], f[3]));
    td(tr, 'id', f[2]); td(tr, 'id', f[1]); td(tr, '', f[6]); td(tr, '', f[7]);
    td(tr, 'm', f[8]); td(tr, '', f[9]);
    td(tr, 'n', n36(f[10]) + ' / ' + n36(f[11]) + ' / ' + n36(f[12]));
    td(tr, 'n', n36(f[13]) + ' / ' + n36(f[14]));
    c = td(tr, 'msg', f[15]);
    [['missing on server: ', f[16]], ['extra on server: ', f[17]]].forEach(function (x) {
      if (!x[1]) return;
      c.appendChild(el('br'));
      c.appendChild(el('b', '', x[0]));
      c.appendChild(el('span', 'id', names(x[1])));
    });
    body.appendChild(tr);
    var ph = el('tr', 'ph'), cell = td(ph), det = el('details'), sum = el('summary');
    cell.colSpan = 11;
    det.open = true;
    var label = r.photos.length + (r.photos.length === 1 ? ' photo' : ' photos');
    if (f[4] && f[5]) label += ' \u00b7 row ran ' + f[4] + ' \u2192 ' + f[5];
    sum.textContent = label;
    if (f[18]) {
      sum.appendChild(document.createTextNode(' \u00b7 server npwpPemberitahu '));
      sum.appendChild(el('span', 'm', f[18]));
    }
    det.appendChild(sum);
    if (r.photos.length) {
      var t = el('table', 'img'), th = el('thead'), hr = el('tr'), tb = el('tbody');
      ['file', 'bytes', 'sha256', 'content type', 'sent in', 'sent at', 'on server', 'server waktuRekam']
        .forEach(function (h) { hr.appendChild(el('th', h === 'bytes' ? 'n' : '', h)); });
      th.appendChild(hr); t.appendChild(th);
      r.photos.forEach(function (p) {
        var v = p.v, row = el('tr');
        td(row, 'id', v[3]); td(row, 'n', String(parseInt(v[0], 36)));
        td(row).appendChild(el('code', 'h', p.sha));
        td(row, '', v[4]); td(row, '', v[5]); td(row, '', v[1]);
        var on = td(row);
        if (v[6] === 'y') on.textContent = 'yes';
        else if (v[6] === 'n') on.appendChild(el('span', 'no', 'no'));
        else on.appendChild(el('span', 'muted', '\u2014 (no listing)'));
        td(row, '', v[2]);
        tb.appendChild(row);
      });
      t.appendChild(tb);
      det.appendChild(t);
    }
    cell.appendChild(det);
    body.appendChild(ph);
  }

  function search() {
    var want = q.value.trim().toLowerCase(), only = st.value;
    res.textContent = '';
    if (!want && !only) { out.textContent = 'Type a nomorAju or BL/AWB (or part of one), or choose a status.'; return; }
    if (!index()) return;
    var exact = [], part = [], i;
    for (i = 0; i < aju.length; i++) {
      if (only && (only === '!' ? stat[i] === 'MATCH' : stat[i] !== only)) continue;
      if (!want) { part.push(i); continue; }
      if (aju[i] === want || bl[i] === want) exact.push(i);
      else if (aju[i].indexOf(want) >= 0 || bl[i].indexOf(want) >= 0) part.push(i);
    }
    var hits = exact.concat(part), shown = hits.slice(0, SHOW);
    out.textContent = hits.length === 0 ? 'No row matches.' :
      hits.length + (hits.length === 1 ? ' row matches' : ' rows match') +
      (hits.length > SHOW ? '; showing the first ' + SHOW + ' (exact matches first). Type more to narrow.' : '.');
    if (!shown.length) return;
    var t = el('table', 'rows'), th = el('thead'), hr = el('tr');
    ['row', 'status', 'nomorAju', 'nomorBlAwb', 'tanggalBlAwb', 'kodeKantor', 'folder', 'action',
      'local / sent / on server', 'tries / requests', 'message'].forEach(function (h, x) {
      hr.appendChild(el('th', x === 0 || x === 8 || x === 9 ? 'n' : '', h));
    });
    th.appendChild(hr); t.appendChild(th);
    shown.forEach(function (i) { var b = el('tbody'); render(rowAt(i), b); t.appendChild(b); });
    res.appendChild(t);
  }

  var timer;
  function later() { clearTimeout(timer); timer = setTimeout(search, 150); }
  q.addEventListener('input', later);
  st.addEventListener('change', search);
  function fromHash() {
    var m = /^#(q|aju|bl)=([\s\S]*)$/.exec(location.hash);
    if (!m) return;
    try { q.value = decodeURIComponent(m[2]); } catch (e) { q.value = m[2]; }
    search();
    box.scrollIntoView();
  }
  window.addEventListener('hashchange', fromHash);
  fromHash();
})();
