// Search over the sharded index: the manifest maps token prefixes (two characters, longer where
// a prefix holds many assets) to shards;
// the first query word picks the shard, every word and filter must then match. Results link
// to the static pages. Without JavaScript the site still lists everything (home, browse pages).
// On compare pages: pick any two versions; the other columns hide and the two are compared
// cell by cell. Without JavaScript every version stays side by side.
(function () {
  "use strict";
  var pick = document.querySelector("form[data-compare]");
  if (!pick) return;
  var cells = document.querySelectorAll("table.compare [data-col]");
  function apply(all) {
    var a = pick.elements.namedItem("a").value, b = pick.elements.namedItem("b").value;
    cells.forEach(function (c) { c.hidden = !all && c.getAttribute("data-col") !== a && c.getAttribute("data-col") !== b; });
    document.querySelectorAll("table.compare tbody tr").forEach(function (row) {
      var ca = row.querySelector('[data-col="' + a + '"]'), cb = row.querySelector('[data-col="' + b + '"]');
      if (!ca || !cb || all) return;
      var differ = ca.textContent !== cb.textContent;
      ca.classList.toggle("changed", false);
      cb.classList.toggle("changed", differ && a !== b);
    });
  }
  pick.addEventListener("change", function () { apply(false); });
  pick.addEventListener("reset", function () { setTimeout(function () { window.location.reload(); }, 0); });
})();

(function () {
  "use strict";
  var forms = document.querySelectorAll("form[data-index]");
  if (!forms.length) return;
  var root = forms[0].getAttribute("data-root");
  var manifestUrl = root + forms[0].getAttribute("data-index");
  var manifest = null;
  var shards = {};
  var results = document.getElementById("results");

  function getJson(url) {
    return fetch(url).then(function (r) {
      if (!r.ok) throw new Error(url + ": HTTP " + r.status);
      return r.json();
    });
  }
  function tokens(text) {
    return (text || "").toLowerCase().split(/[^a-z0-9]+/).filter(function (t) { return t.length > 0; });
  }
  function loadShard(key) {
    var file = manifest.shards[key];
    if (!file) return Promise.resolve([]);
    if (!shards[key]) shards[key] = getJson(root + file);
    return shards[key];
  }
  function withManifest(then) {
    if (manifest) return then();
    getJson(manifestUrl).then(function (m) { manifest = m; then(); }).catch(function (err) {
      if (results) results.textContent = "Search is unavailable: " + err.message;
    });
  }
  function matches(entry, words, filters) {
    var hay = entry.t;
    for (var i = 0; i < words.length; i++) {
      var ok = false;
      for (var j = 0; j < hay.length; j++) { if (hay[j].indexOf(words[i]) === 0) { ok = true; break; } }
      if (!ok) return false;
    }
    for (var k in filters) {
      if (!filters[k]) continue;
      var v = entry.f[k];
      if (!v || v.indexOf(filters[k]) < 0) return false;
    }
    return true;
  }
  function show(list, query) {
    if (!results) return;
    results.textContent = "";
    var p = document.createElement("p");
    p.className = "muted";
    p.textContent = list.length + (list.length === 1 ? " result" : " results") + (query ? " for “" + query + "”" : "");
    results.appendChild(p);
    var ul = document.createElement("ul");
    list.slice(0, 200).forEach(function (e) {
      var li = document.createElement("li");
      var a = document.createElement("a");
      a.href = root + e.h;
      a.textContent = e.n;
      li.appendChild(a);
      var meta = document.createElement("span");
      meta.className = "muted";
      meta.textContent = " " + e.k + (e.l ? " · latest " + e.l : "") + (e.s ? " · " + e.s : "");
      li.appendChild(meta);
      if (e.d) { var d = document.createElement("p"); d.textContent = e.d; li.appendChild(d); }
      ul.appendChild(li);
    });
    results.appendChild(ul);
  }
  // The browse page of one filter value, from the option that offers it.
  function browseHref(form, name, value) {
    var select = form.querySelector("select[name=" + name + "]");
    if (!select) return null;
    for (var i = 0; i < select.options.length; i++) {
      if (select.options[i].value === value) return select.options[i].getAttribute("data-href");
    }
    return null;
  }
  function run(form) {
    var data = new FormData(form);
    var query = (data.get("q") || "").toString();
    var words = tokens(query);
    var filters = {};
    ["kind", "stage", "tag", "license", "task"].forEach(function (k) { var v = data.get(k); if (v) filters[k] = v.toString(); });
    var names = Object.keys(filters);
    if (!words.length) {
      var browse = names.length === 1 ? browseHref(form, names[0], filters[names[0]]) : null;
      if (browse) {
        window.location.href = root + browse;
      } else if (names.length && results) {
        results.textContent = "Type a word to search, or pick one filter to browse.";
      } else if (results) {
        results.textContent = "";
      }
      return;
    }
    // The shard comes from the first word that is not too common to pick one.
    var common = (manifest && manifest.common) || [];
    var pick = words.filter(function (w) { return common.indexOf(w) < 0; })[0];
    if (!pick) {
      if (results) results.textContent = "“" + query + "” is in too many assets; add another word.";
      return;
    }
    // Large prefixes are split into longer keys: the one key that prefixes the word, or the
    // word itself (`word$`) when it is exactly a split prefix.
    var key = null;
    for (var n = 2; n <= Math.min(pick.length, 8) && !key; n++) {
      if (manifest.shards[pick.slice(0, n)]) key = pick.slice(0, n);
    }
    if (!key && manifest.shards[pick + "$"]) key = pick + "$";
    if (!key) {
      var longer = Object.keys(manifest.shards).some(function (k) { return k.indexOf(pick) === 0; });
      show([], query);
      if (longer && results) results.firstChild.textContent = "Type a few more characters of “" + pick + "”.";
      return;
    }
    loadShard(key).then(function (entries) {
      show(entries.filter(function (e) { return matches(e, words, filters); }), query);
    }).catch(function (err) {
      if (results) results.textContent = "Search is unavailable: " + err.message;
    });
  }
  forms.forEach(function (form) {
    var input = form.querySelector("input[name=q]");
    var params = new URLSearchParams(window.location.search);
    var prefilled = false;
    params.forEach(function (value, name) {
      var field = form.elements.namedItem(name);
      if (field) { field.value = value; prefilled = true; }
    });
    form.addEventListener("submit", function (ev) {
      if (!results) return; // the header box submits to search.html
      ev.preventDefault();
      withManifest(function () { run(form); });
    });
    if (input && results) input.addEventListener("input", function () { withManifest(function () { run(form); }); });
    form.querySelectorAll("select").forEach(function (s) { s.addEventListener("change", function () { if (results) withManifest(function () { run(form); }); }); });
    if (prefilled && results) withManifest(function () { run(form); });
  });
})();
