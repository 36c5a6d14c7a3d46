// gpsntp status page: live status over Server-Sent Events (/events), plots
// drawn as SVG. No framework, nothing from another origin.
'use strict';
(function () {
  const $ = (id) => document.getElementById(id);
  const NS = 'http://www.w3.org/2000/svg';
  // Row columns, as web/handler.go appendRow writes them.
  const T = 0, OFFSET = 1, BOUND = 2, JITTER = 3, FREQ = 4, MISSED = 5, REQ = 6;
  const SPAN = { '1h': 3600, '24h': 86400 };
  const STEP = { '1h': 1, '24h': 60 };

  const data = { sec: [], min: [] }; // rows with absolute t (Unix seconds)
  let groups = ['replied', 'unsync', 'kod', 'dropped'];
  let range = '1h';
  let last = null; // the last "now" payload
  // What each plot drew, for tests and the curious: plots[id] = {range, lines: {name: [[t, v], …]}}.
  const plots = {};
  window.gpsntp = { data: data, plots: plots, last: () => last };

  function el(tag, attrs, text) {
    const e = document.createElementNS(NS, tag);
    for (const k in attrs) e.setAttribute(k, attrs[k]);
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function h(tag, text, cls) {
    const e = document.createElement(tag);
    if (text !== undefined) e.textContent = text;
    if (cls) e.className = cls;
    return e;
  }

  // Units: nanoseconds shown as ns, µs, ms or s.
  function fmtNs(v) {
    if (v === null || v === undefined || !isFinite(v)) return '–';
    const a = Math.abs(v);
    if (a >= 1e9) return (v / 1e9).toPrecision(4) + ' s';
    if (a >= 1e6) return (v / 1e6).toPrecision(4) + ' ms';
    if (a >= 1e3) return (v / 1e3).toPrecision(4) + ' µs';
    return v.toPrecision(a >= 100 ? 3 : 3) + ' ns';
  }
  function fmtNum(v, unit) {
    if (v === null || v === undefined || !isFinite(v)) return '–';
    const a = Math.abs(v);
    const s = a === 0 ? '0' : a >= 1000 ? v.toFixed(0) : v.toPrecision(3);
    return unit ? s + ' ' + unit : s;
  }
  function fmtDur(s) {
    if (s === null || s === undefined || !isFinite(s) || s < 0) return '–';
    s = Math.floor(s);
    const d = Math.floor(s / 86400), hh = Math.floor((s % 86400) / 3600), mm = Math.floor((s % 3600) / 60);
    if (d > 0) return d + 'd ' + hh + 'h';
    if (hh > 0) return hh + 'h ' + mm + 'm';
    if (mm > 0) return mm + 'm ' + (s % 60) + 's';
    return s + 's';
  }
  function hhmm(t, withSec) {
    const d = new Date(t * 1000);
    const p = (n) => String(n).padStart(2, '0');
    return p(d.getUTCHours()) + ':' + p(d.getUTCMinutes()) + (withSec ? ':' + p(d.getUTCSeconds()) : '');
  }

  function rowsFrom(series) {
    let t = series.t0;
    return series.rows.map((r) => { t += r[0]; const a = r.slice(); a[T] = t; return a; });
  }
  function append(list, row, keepS) {
    if (!row) return false;
    const n = list.length;
    if (n > 0 && list[n - 1][T] >= row[T]) {
      if (list[n - 1][T] !== row[T]) return false; // older than what we have
      list[n - 1] = row;
      return true;
    }
    list.push(row);
    const from = row[T] - keepS;
    let cut = 0;
    while (cut < list.length && list[cut][T] <= from) cut++;
    if (cut > 0) list.splice(0, cut);
    return true;
  }

  // Plots: each a list of lines (a row column each); the offset plot has
  // the error bound as a band around zero.
  function plotDefs() {
    return [
      { id: 'offset', fmt: fmtNs, band: BOUND, lines: [{ name: 'offset', col: OFFSET, cls: 'l0' }] },
      { id: 'jitter', fmt: fmtNs, lines: [{ name: 'jitter', col: JITTER, cls: 'l0' }] },
      { id: 'freq', fmt: (v) => fmtNum(v, 'ppb'), lines: [{ name: 'freq', col: FREQ, cls: 'l0' }] },
      { id: 'missed', fmt: (v) => fmtNum(v, '/s'), zero: true, lines: [{ name: 'missed', col: MISSED, cls: 'l0' }] },
      { id: 'requests', fmt: (v) => fmtNum(v, '/s'), zero: true,
        lines: groups.map((g, i) => ({ name: g, col: REQ + i, cls: 'l' + (i % 4) })) },
    ];
  }

  function niceTicks(lo, hi, n) {
    const span = hi - lo;
    const raw = span / n;
    const mag = Math.pow(10, Math.floor(Math.log10(raw)));
    const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => span / s <= n) || 10 * mag;
    const out = [];
    for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(Math.abs(v) < step * 1e-9 ? 0 : v);
    return out;
  }

  function drawPlot(def) {
    const svg = $('plot-' + def.id);
    const W = Math.max(200, Math.round(svg.clientWidth || 340)), H = 150;
    const L = 58, R = 8, TOP = 6, B = 18;
    const rows = range === '1h' ? data.sec : data.min;
    const step = STEP[range];
    const tEnd = data.sec.length ? data.sec[data.sec.length - 1][T] : (rows.length ? rows[rows.length - 1][T] : Date.now() / 1000);
    const t0 = tEnd - SPAN[range];
    svg.setAttribute('viewBox', '0 0 ' + W + ' ' + H);
    svg.replaceChildren();
    const vis = rows.filter((r) => r[T] >= t0);
    let lo = Infinity, hi = -Infinity;
    const see = (v) => { if (v !== null && isFinite(v)) { lo = Math.min(lo, v); hi = Math.max(hi, v); } };
    const drawn = { range: range, lines: {} };
    for (const r of vis) {
      for (const ln of def.lines) see(r[ln.col]);
      if (def.band !== undefined && r[def.band] !== null) { see(r[def.band]); see(-r[def.band]); }
    }
    for (const ln of def.lines) drawn.lines[ln.name] = [];
    if (lo === Infinity) {
      svg.appendChild(el('text', { x: W / 2, y: H / 2, 'text-anchor': 'middle', class: 'nodata' }, 'no data yet'));
      plots[def.id] = drawn;
      svg.setAttribute('data-points', '0');
      return;
    }
    if (def.zero) { lo = Math.min(lo, 0); hi = Math.max(hi, 0); }
    if (hi - lo < 1e-9 && def.zero && hi === 0) { hi = 1; } else if (hi - lo < 1e-9) { const m = Math.max(Math.abs(hi) * 0.1, 1); lo -= m; hi += m; }
    const pad = (hi - lo) * 0.08;
    lo -= def.zero && lo === 0 ? 0 : pad; hi += pad;
    const x = (t) => L + ((t - t0) / (tEnd - t0)) * (W - L - R);
    const y = (v) => TOP + (1 - (v - lo) / (hi - lo)) * (H - TOP - B);
    for (const v of niceTicks(lo, hi, 4)) {
      svg.appendChild(el('line', { x1: L, x2: W - R, y1: y(v), y2: y(v), class: 'grid' }));
      svg.appendChild(el('text', { x: L - 4, y: y(v) + 3, 'text-anchor': 'end' }, def.fmt(v)));
    }
    const tstep = range === '1h' ? 900 : 6 * 3600;
    for (let t = Math.ceil(t0 / tstep) * tstep; t <= tEnd; t += tstep) {
      svg.appendChild(el('line', { x1: x(t), x2: x(t), y1: TOP, y2: H - B, class: 'grid' }));
      svg.appendChild(el('text', { x: x(t), y: H - 5, 'text-anchor': 'middle' }, hhmm(t)));
    }
    svg.appendChild(el('line', { x1: L, x2: L, y1: TOP, y2: H - B, class: 'axis' }));
    svg.appendChild(el('line', { x1: L, x2: W - R, y1: H - B, y2: H - B, class: 'axis' }));
    const gap = 3 * step; // a longer silence breaks the line
    if (def.band !== undefined) {
      // One polygon per run of rows with a bound.
      let run = [];
      const flush = () => {
        if (run.length > 1) {
          const up = run.map((r) => x(r[T]).toFixed(1) + ',' + y(r[def.band]).toFixed(1));
          const down = run.slice().reverse().map((r) => x(r[T]).toFixed(1) + ',' + y(-r[def.band]).toFixed(1));
          svg.appendChild(el('polygon', { points: up.concat(down).join(' '), class: 'band' }));
        }
        run = [];
      };
      for (const r of vis) {
        if (r[def.band] === null || (run.length && r[T] - run[run.length - 1][T] > gap)) flush();
        if (r[def.band] !== null) run.push(r);
      }
      flush();
    }
    let points = 0;
    for (const ln of def.lines) {
      let d = '', prevT = null;
      for (const r of vis) {
        const v = r[ln.col];
        if (v === null) { prevT = null; continue; }
        d += (prevT === null || r[T] - prevT > gap ? 'M' : 'L') + x(r[T]).toFixed(1) + ' ' + y(v).toFixed(1);
        prevT = r[T];
        drawn.lines[ln.name].push([r[T], v]);
        points++;
      }
      if (d) svg.appendChild(el('path', { d: d, class: 'ln ' + ln.cls }));
    }
    svg.setAttribute('data-points', String(points));
    plots[def.id] = drawn;
  }

  function drawPlots() { for (const def of plotDefs()) drawPlot(def); }

  function legend() {
    const box = $('legend-requests');
    box.replaceChildren();
    groups.forEach((g, i) => box.appendChild(h('span', '— ' + g, 'l-' + g)));
  }

  // Sky: azimuth clockwise from north (up), elevation 90° at the centre.
  function drawSky(sats) {
    const svg = $('sky');
    svg.replaceChildren();
    for (const e of [0, 30, 60]) svg.appendChild(el('circle', { cx: 0, cy: 0, r: (90 - e) / 90 * 100, class: 'ring' }));
    svg.appendChild(el('line', { x1: -100, x2: 100, y1: 0, y2: 0, class: 'grid' }));
    svg.appendChild(el('line', { x1: 0, x2: 0, y1: -100, y2: 100, class: 'grid' }));
    for (const [lab, px, py] of [['N', 0, -104], ['E', 108, 3], ['S', 0, 112], ['W', -108, 3]]) {
      svg.appendChild(el('text', { x: px, y: py, 'text-anchor': 'middle' }, lab));
    }
    let n = 0;
    for (const s of sats) {
      if (s.elevation_deg < 0 || s.elevation_deg > 90) continue;
      const r = (90 - s.elevation_deg) / 90 * 100, a = s.azimuth_deg * Math.PI / 180;
      const cx = r * Math.sin(a), cy = -r * Math.cos(a);
      const cls = 'sat ' + satClass(s);
      const g = el('g', { 'data-prn': s.prn, class: 'satellite' });
      g.appendChild(el('circle', { cx: cx.toFixed(1), cy: cy.toFixed(1), r: 7, class: cls }));
      g.appendChild(el('text', { x: cx.toFixed(1), y: (cy + 3).toFixed(1), class: 'prn' }, String(s.prn)));
      const tip = el('title', {}, 'PRN ' + s.prn + ': elevation ' + s.elevation_deg + '°, azimuth ' + s.azimuth_deg + '°, SNR ' + (s.snr_dbhz < 0 ? 'not tracked' : s.snr_dbhz + ' dB-Hz') + (s.used ? ', used' : ''));
      g.appendChild(tip);
      svg.appendChild(g);
      n++;
    }
    svg.setAttribute('data-sats', String(n));
  }
  function satClass(s) { return s.used ? 'used' : s.snr_dbhz >= 0 ? 'seen' : 'lost'; }

  function drawSNR(sats) {
    const svg = $('snr');
    const W = Math.max(200, Math.round(svg.clientWidth || 340)), H = 120, B = 16, TOP = 4, MAX = 50;
    svg.setAttribute('viewBox', '0 0 ' + W + ' ' + H);
    svg.replaceChildren();
    const list = sats.slice().sort((a, b) => a.prn - b.prn);
    const y = (v) => TOP + (1 - Math.min(v, MAX) / MAX) * (H - TOP - B);
    for (const v of [0, 20, 40]) {
      svg.appendChild(el('line', { x1: 22, x2: W, y1: y(v), y2: y(v), class: 'grid' }));
      svg.appendChild(el('text', { x: 18, y: y(v) + 3, 'text-anchor': 'end' }, String(v)));
    }
    const bw = list.length ? Math.min(28, (W - 24) / list.length) : 0;
    list.forEach((s, i) => {
      const x0 = 24 + i * bw;
      const v = Math.max(0, s.snr_dbhz);
      const bar = el('rect', { x: (x0 + 1).toFixed(1), y: y(v).toFixed(1), width: Math.max(1, bw - 2).toFixed(1), height: (y(0) - y(v)).toFixed(1), class: 'bar ' + satClass(s), 'data-prn': s.prn, 'data-snr': s.snr_dbhz });
      bar.appendChild(el('title', {}, 'PRN ' + s.prn + ': ' + (s.snr_dbhz < 0 ? 'not tracked' : s.snr_dbhz + ' dB-Hz')));
      svg.appendChild(bar);
      svg.appendChild(el('text', { x: (x0 + bw / 2).toFixed(1), y: H - 4, 'text-anchor': 'middle' }, String(s.prn)));
    });
    svg.setAttribute('data-bars', String(list.length));
  }

  function row(cells, noteIdx) {
    const tr = document.createElement('tr');
    cells.forEach((c, i) => tr.appendChild(h('td', c, i === noteIdx ? 'note' : undefined)));
    return tr;
  }

  function renderNow(p) {
    const s = p.snap;
    const badge = $('state');
    badge.textContent = s.state + (s.refid ? ' · ' + s.refid : '');
    badge.className = 'badge ' + s.state;
    let holdover = '–';
    if (s.state === 'holdover') {
      holdover = p.holdover_max_s > 0 ? fmtDur(p.holdover_max_s - s.holdover_s) + ' left' : 'until the bound reaches ' + fmtNs(p.max_error_ns);
      holdover += ' (in holdover ' + fmtDur(s.holdover_s) + ')';
    }
    const c = s.server.counts || {};
    const items = [
      ['state', s.state + (s.synchronised ? '' : ' (unsynchronised)')],
      ['refid', s.refid || '–'],
      ['stratum', String(s.stratum)],
      ['offset', fmtNs(s.offset_ns)],
      ['jitter', fmtNs(s.jitter_ns)],
      ['frequency', fmtNum(s.freq_ppb / 1000, 'ppm')],
      ['root dispersion', s.synchronised ? fmtNs(s.root_dispersion_ns) : '–'],
      ['leap', s.leap || 'none'],
      ['holdover', holdover],
      ['uptime', fmtDur(s.uptime_s)],
      ['time (UTC)', s.time ? s.time.replace('T', ' ').replace(/\.\d+Z$/, 'Z') : '–'],
      ['satellites', s.gps.sats_used + ' used / ' + s.gps.sats_in_view + ' in view, ' + s.gps.mode],
      ['PPS', s.pps.source + ': ' + s.pps.edges + ' edges, ' + s.pps.missed + ' missed'],
      ['requests', fmtNum(s.server.requests_per_min, '/min') + ', ' + (c.received || 0) + ' since start'],
      ['clock', s.clock],
    ];
    if (s.mdns_name || (s.addresses && s.addresses.length)) items.push(['address', [s.mdns_name].concat(s.addresses || []).filter(Boolean).join(', ')]);
    const dl = $('now');
    dl.replaceChildren();
    for (const [k, v] of items) {
      dl.appendChild(h('dt', k));
      const dd = h('dd', v);
      dd.id = 'now-' + k.toLowerCase().replace(/[^a-z]+/g, '-').replace(/-$/, '');
      dl.appendChild(dd);
    }
    const al = $('alarms');
    al.replaceChildren();
    for (const a of s.alarms || []) al.appendChild(h('li', a));

    drawSky(s.satellites || []);
    drawSNR(s.satellites || []);
    const g = s.gps;
    $('pos').textContent = g.mode === '2D' || g.mode === '3D'
      ? 'Position ' + (p.position === 'exact' ? '' : '(rounded to about 1 km) ') + g.lat_deg.toFixed(p.position === 'exact' ? 5 : 2) + '°, ' + g.lon_deg.toFixed(p.position === 'exact' ? 5 : 2) + '°, ' + Math.round(g.alt_m) + ' m; HDOP ' + g.hdop
      : 'No position fix.';

    const sb = $('sources').tBodies[0];
    sb.replaceChildren();
    for (const r of s.sources || []) {
      sb.appendChild(row([r.tally, r.remote, r.refid, String(r.stratum), r.type, r.when_s < 0 ? '–' : r.when_s + 's',
        String(r.poll_s), r.reach.toString(8), fmtNs(r.delay_ns), fmtNs(r.offset_ns), fmtNs(r.jitter_ns), r.note || ''], 11));
    }
    const kod = c.kod || 0;
    $('kod').textContent = 'Kiss-o\'-death sent: ' + kod + ' (' + fmtNum(s.server.kod_per_min, '/min') + ' over the last minute). Dropped: ' + fmtNum(s.server.drops_per_min, '/min') + '.';
    const tb = $('talkers').tBodies[0];
    tb.replaceChildren();
    for (const t of s.server.top_talkers || []) {
      tb.appendChild(row([t.addr, fmtNum(t.per_min), String(t.limited), String(t.kod_sent), fmtDur(t.last_seen_ago_s) + ' ago']));
    }
    if (!(s.server.top_talkers || []).length) tb.appendChild(row(['none (only clients of `limited` restrict rules are tracked)', '', '', '', '']));
    const ev = $('events');
    ev.replaceChildren();
    for (const e of (s.events || []).slice().reverse()) {
      const li = h('li', undefined, e.level);
      const tm = document.createElement('time');
      tm.textContent = e.time.replace(/^.*T/, '').replace(/\.\d+Z$/, 'Z');
      tm.setAttribute('datetime', e.time);
      li.appendChild(tm);
      li.appendChild(document.createTextNode(e.msg + (e.attrs ? ' ' + e.attrs : '')));
      ev.appendChild(li);
    }
  }

  let es = null;
  function connect() {
    const conn = $('conn');
    es = new EventSource('events');
    es.addEventListener('history', (m) => {
      const p = JSON.parse(m.data);
      data.sec = rowsFrom(p.sec);
      data.min = rowsFrom(p.min);
      drawPlots();
    });
    es.addEventListener('now', (m) => {
      const p = JSON.parse(m.data);
      last = p;
      if (p.groups && p.groups.join() !== groups.join()) { groups = p.groups; legend(); }
      conn.textContent = 'live';
      conn.className = 'conn';
      const s = append(data.sec, p.sec, SPAN['1h']);
      const mn = append(data.min, p.min, SPAN['24h']);
      renderNow(p);
      if (s || mn) drawPlots();
    });
    es.onerror = () => {
      conn.className = 'conn down';
      if (es.readyState === EventSource.CLOSED) {
        // Refused (too many viewers) or the daemon went away: try again later.
        conn.textContent = 'disconnected (the daemon is down or has too many viewers); retrying';
        setTimeout(connect, 10000);
      } else {
        conn.textContent = 'reconnecting…';
      }
    };
  }

  function setRange(r) {
    range = r;
    $('r1h').className = r === '1h' ? 'on' : '';
    $('r24h').className = r === '24h' ? 'on' : '';
    drawPlots();
  }
  $('r1h').addEventListener('click', () => setRange('1h'));
  $('r24h').addEventListener('click', () => setRange('24h'));
  let resize = null;
  window.addEventListener('resize', () => {
    clearTimeout(resize);
    resize = setTimeout(() => { drawPlots(); if (last) drawSNR(last.snap.satellites || []); }, 200);
  });
  window.gpsntp.setRange = setRange;
  legend();
  drawPlots();
  connect();
})();
