/* The findings browser: filters, sorting and paging over the embedded JSON, rendered lazily.
 * Every server string is put into the page with textContent / createElement, never as HTML. */
(function () {
  "use strict";
  // The fix plan: an action linked to (#action-<id>, from the first screen) opens; printing opens them all.
  function openAction() {
    var target = window.location.hash ? document.getElementById(window.location.hash.slice(1)) : null;
    if (target && target.tagName === "DETAILS") { target.open = true; }
  }
  window.addEventListener("hashchange", openAction);
  window.addEventListener("beforeprint", function () {
    document.querySelectorAll("details.action").forEach(function (d) { d.open = true; });
  });
  openAction();
  var source = document.getElementById("report-data");
  var root = document.getElementById("findings-browser");
  if (!source || !root) { return; }
  var data = JSON.parse(source.textContent);
  var S = data.strings, REMEDIES = data.remedies, ALL = data.findings, SEV = data.severities,
      PLAT = data.platforms;
  // Positions in a finding row (see shareaudit/render/html.py: _finding_row).
  var ID = 0, SEVERITY = 1, RULE = 2, HOST = 3, SHARE = 4, IDENT = 5, PATH = 6, EVIDENCE = 7,
      PLATFORM = 8, TITLE = 9, WHY = 10, REMEDY = 11, ADDRESS = 12, ACCEPTED = 13, NEW = 14;
  // Markers for the finding's own share, address and host in remediation steps (html.py: templated);
  // a step that starts with U+E003 is stored verbatim.
  var MARKS = /[\uE000-\uE002]/g;
  var COLUMNS = [
    ["severity", SEVERITY], ["finding", TITLE], ["host", HOST], ["share", SHARE],
    ["identity", IDENT], ["rule", RULE]
  ];
  var state = { sev: "", host: "", ident: "", rule: "", share: "", text: "", status: "", sort: SEVERITY,
                dir: 1, page: 0, size: 50, open: {}, printing: false };
  var view = ALL;

  function el(tag, text, cls) {
    var node = document.createElement(tag);
    if (text !== undefined && text !== null) { node.textContent = String(text); }
    if (cls) { node.className = cls; }
    return node;
  }
  function str(i) { return typeof i === "number" ? S[i] : ""; }
  function step(i, f) {
    var text = str(i);
    if (text.charAt(0) === "\uE003") { return text.slice(1); }  // stored verbatim
    return text.replace(MARKS, function (m) {
      return (m === "\uE000" ? f[SHARE] : m === "\uE001" ? f[ADDRESS] : f[HOST]) || "";
    });
  }
  function cellText(f, col) { return col === TITLE ? str(f[TITLE]) : col === SEVERITY ? f[SEVERITY] : (f[col] || ""); }
  function uniq(col) {
    var seen = {}, out = [];
    ALL.forEach(function (f) { var v = f[col] || ""; if (!seen.hasOwnProperty(v)) { seen[v] = 1; out.push(v); } });
    return out.sort();
  }
  function select(label, values, key, names) {
    var wrap = el("label", label), box = el("select");
    box.appendChild(new Option("all", ""));
    values.forEach(function (v) {
      var text = names ? names(v) : (v === "" ? "(none)" : v);
      box.appendChild(new Option(text, v === "" ? "\u0000" : String(v)));
    });
    box.addEventListener("change", function () { state[key] = box.value; state.page = 0; update(); });
    wrap.appendChild(box);
    return wrap;
  }
  function input(label, key) {
    var wrap = el("label", label), box = el("input");
    box.type = "search";
    box.addEventListener("input", function () { state[key] = box.value.toLowerCase(); state.page = 0; update(); });
    wrap.appendChild(box);
    return { wrap: wrap, box: box };
  }

  // --- controls -------------------------------------------------------------------------------------
  var filters = el("div", null, "filters");
  filters.appendChild(select("severity", SEV.map(function (_, i) { return i; }), "sev",
                             function (i) { return SEV[i]; }));
  filters.appendChild(select("host", uniq(HOST), "host"));
  var shareBox = input("share contains", "share");
  filters.appendChild(shareBox.wrap);
  filters.appendChild(select("identity", uniq(IDENT), "ident"));
  filters.appendChild(select("rule", uniq(RULE), "rule"));
  if (ALL.some(function (f) { return f[ACCEPTED]; })) {
    filters.appendChild(select("accepted risks", ["open", "accepted"], "status", function (v) {
      return v === "open" ? "hide accepted risks" : "only accepted risks";
    }));
  }
  var textBox = input("text (title, evidence, id)", "text");
  filters.appendChild(textBox.wrap);
  root.appendChild(filters);

  var pager = el("div", null, "pager");
  var first = el("button", "\u00AB first"), prev = el("button", "\u2039 previous"),
      next = el("button", "next \u203A"), last = el("button", "last \u00BB"), status = el("span");
  [first, prev, next, last].forEach(function (b) { b.type = "button"; pager.appendChild(b); });
  pager.appendChild(status);
  first.addEventListener("click", function () { state.page = 0; draw(); });
  prev.addEventListener("click", function () { state.page = Math.max(0, state.page - 1); draw(); });
  next.addEventListener("click", function () { state.page += 1; draw(); });
  last.addEventListener("click", function () { state.page = Infinity; draw(); });
  root.appendChild(pager);

  var table = el("table", null, "findings"), thead = el("thead"), headRow = el("tr"), tbody = el("tbody");
  var sortButtons = [];
  COLUMNS.forEach(function (column) {
    var th = el("th"), button = el("button", column[0]);
    button.type = "button";
    button.addEventListener("click", function () {
      if (state.sort === column[1]) { state.dir = -state.dir; } else { state.sort = column[1]; state.dir = 1; }
      update();
    });
    sortButtons.push([button, column[1]]);
    th.appendChild(button);
    headRow.appendChild(th);
  });
  thead.appendChild(headRow);
  table.appendChild(thead);
  table.appendChild(tbody);
  root.appendChild(table);

  // --- filtering, sorting, paging ---------------------------------------------------------------------
  function matches(f) {
    if (state.sev !== "" && String(f[SEVERITY]) !== state.sev) { return false; }
    if (state.host !== "" && (f[HOST] || "\u0000") !== state.host) { return false; }
    if (state.ident !== "" && (f[IDENT] || "\u0000") !== state.ident) { return false; }
    if (state.rule !== "" && f[RULE] !== state.rule) { return false; }
    if (state.status === "open" && f[ACCEPTED]) { return false; }
    if (state.status === "accepted" && !f[ACCEPTED]) { return false; }
    if (state.share && (f[SHARE] || "").toLowerCase().indexOf(state.share) < 0) { return false; }
    if (state.text) {
      var hay = (str(f[TITLE]) + "\n" + f[EVIDENCE] + "\n" + f[ID]).toLowerCase();
      if (hay.indexOf(state.text) < 0) { return false; }
    }
    return true;
  }
  function update() {
    var col = state.sort, dir = state.dir;
    view = ALL.map(function (f, i) { return [f, i]; }).filter(function (p) { return matches(p[0]); });
    view.sort(function (a, b) {
      var x = cellText(a[0], col), y = cellText(b[0], col);
      if (x < y) { return -dir; }
      if (x > y) { return dir; }
      return a[1] - b[1];  // stable: the report's own order (severity, host, share, rule)
    });
    view = view.map(function (p) { return p[0]; });
    sortButtons.forEach(function (pair) {
      pair[0].setAttribute("aria-sort", pair[1] === col ? (dir > 0 ? "ascending" : "descending") : "none");
    });
    draw();
  }
  function remedy(f) {
    var box = el("div", null, "remedy"), rem = REMEDIES[f[REMEDY]] || {}, detected = f[PLATFORM];
    function steps(list) {
      var ol = el("ol");
      (list || []).forEach(function (i) { ol.appendChild(el("li", step(i, f))); });
      return ol;
    }
    var keys = Object.keys(PLAT).filter(function (k) { return rem.hasOwnProperty(k); });
    Object.keys(rem).forEach(function (k) { if (keys.indexOf(k) < 0) { keys.push(k); } });
    function name(k) { return PLAT.hasOwnProperty(k) ? PLAT[k] : k; }
    if (detected && rem.hasOwnProperty(detected)) {
      box.appendChild(el("h4", "How to fix it on " + name(detected) + " (detected)"));
      box.appendChild(steps(rem[detected]));
      var others = keys.filter(function (k) { return k !== detected; });
      if (others.length) {
        var more = el("details");
        more.appendChild(el("summary", "Other platforms"));
        // Stays folded in print too: a PDF for one site's admins needs their platform only.
        others.forEach(function (k) { more.appendChild(el("h4", name(k))); more.appendChild(steps(rem[k])); });
        box.appendChild(more);
      }
    } else {
      box.appendChild(el("h4", "How to fix it (platform not detected)"));
      keys.forEach(function (k) {
        var d = el("details");
        d.appendChild(el("summary", name(k)));
        d.appendChild(steps(rem[k]));
        if (state.printing) { d.open = true; }
        box.appendChild(d);
      });
    }
    return box;
  }
  function detail(f) {
    var tr = el("tr", null, "detail"), td = el("td");
    td.colSpan = COLUMNS.length;
    if (f[ACCEPTED]) { td.appendChild(el("p", f[ACCEPTED], "accepted")); }
    td.appendChild(el("h4", "Evidence"));
    td.appendChild(el("p", f[EVIDENCE]));
    if (f[PATH]) { td.appendChild(el("p", "Path: " + f[PATH], "mono")); }
    td.appendChild(el("h4", "Why it matters"));
    td.appendChild(el("p", str(f[WHY])));
    td.appendChild(remedy(f));
    td.appendChild(el("p", "finding id " + f[ID], "id"));
    tr.appendChild(td);
    return tr;
  }
  function row(f, open) {
    var tr = el("tr"), sev = el("td", null, "sevcol"), title = el("td"),
        toggle = el("button", open ? "\u25BE" : "\u25B8", "toggle");
    sev.appendChild(el("span", SEV[f[SEVERITY]], "sev sev-" + SEV[f[SEVERITY]]));
    toggle.type = "button";
    toggle.setAttribute("aria-expanded", open ? "true" : "false");
    toggle.setAttribute("aria-label", "details");
    title.appendChild(toggle);
    title.appendChild(document.createTextNode(" " + str(f[TITLE])));
    if (f[NEW]) { title.appendChild(el("span", "new since the last run", "badge new")); }
    if (f[ACCEPTED]) { title.appendChild(el("span", "accepted risk", "badge")); tr.className = "accepted"; }
    tr.appendChild(sev);
    tr.appendChild(title);
    [HOST, SHARE, IDENT, RULE].forEach(function (col) { tr.appendChild(el("td", f[col] || "\u2014")); });
    toggle.addEventListener("click", function () {
      if (state.open[f[ID]]) { delete state.open[f[ID]]; } else { state.open[f[ID]] = true; }
      draw();
    });
    return tr;
  }
  function draw() {
    var pages = Math.max(1, Math.ceil(view.length / state.size));
    state.page = Math.min(state.page, pages - 1);
    var start = state.page * state.size, slice = view.slice(start, start + state.size);
    var rows = [];
    slice.forEach(function (f) {
      var open = state.printing || state.open[f[ID]];
      rows.push(row(f, open));
      if (open) { rows.push(detail(f)); }
    });
    if (!slice.length) {
      var empty = el("tr"), td = el("td", "No finding matches these filters.");
      td.colSpan = COLUMNS.length;
      empty.appendChild(td);
      rows.push(empty);
    }
    tbody.replaceChildren.apply(tbody, rows);
    status.textContent = view.length
      ? "findings " + (start + 1) + "\u2013" + (start + slice.length) + " of " + view.length +
        (view.length !== ALL.length ? " (" + ALL.length + " in total)" : "") +
        ", page " + (state.page + 1) + " of " + pages
      : "0 of " + ALL.length + " findings";
    first.disabled = prev.disabled = state.page === 0;
    next.disabled = last.disabled = state.page >= pages - 1;
  }

  // A link to #f-<id> (the worst findings in the summary) shows that finding, opened.
  function followHash() {
    var m = /^#f-([0-9a-f]+)$/.exec(window.location.hash);
    if (!m) { return; }
    textBox.box.value = m[1];
    state.text = m[1];
    state.open[m[1]] = true;
    state.page = 0;
    update();
  }
  // Printing (to PDF) shows the current page with every finding's details open.
  window.addEventListener("beforeprint", function () { state.printing = true; draw(); });
  window.addEventListener("afterprint", function () { state.printing = false; draw(); });
  window.addEventListener("hashchange", followHash);
  document.querySelectorAll("[data-severity-filter]").forEach(function (card) {
    card.addEventListener("click", function () {
      state.sev = card.getAttribute("data-severity-filter");
      filters.querySelector("select").value = state.sev;
      state.page = 0;
      update();
    });
  });
  update();
  followHash();
  root.setAttribute("data-ready", String(ALL.length));
})();
