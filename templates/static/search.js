// Search over the sharded index: the manifest maps a two-character token prefix to a shard;
// the first query word picks the shard, every word and filter must then match. Results link
// to the static pages. Without JavaScript the site still lists everything (home, browse pages).
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
    return (manifest ? Promise.resolve(manifest) : getJson(manifestUrl).then(function (m) { manifest = m; return m; }))
      .then(function (m) {
        var file = m.shards[key];
        if (!file) return [];
        if (!shards[key]) shards[key] = getJson(root + file);
        return shards[key];
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
  function run(form) {
    var data = new FormData(form);
    var query = (data.get("q") || "").toString();
    var words = tokens(query);
    var filters = {};
    ["kind", "stage", "tag", "license", "task"].forEach(function (k) { var v = data.get(k); if (v) filters[k] = v.toString(); });
    var names = Object.keys(filters);
    if (!words.length) {
      if (names.length === 1 && manifest && manifest.browse[names[0] + ":" + filters[names[0]]]) {
        window.location.href = root + manifest.browse[names[0] + ":" + filters[names[0]]];
      } else if (names.length && results) {
        results.textContent = "Type a word to search, or pick one filter to browse.";
      } else if (results) {
        results.textContent = "";
      }
      return;
    }
    loadShard(words[0].slice(0, 2)).then(function (entries) {
      show(entries.filter(function (e) { return matches(e, words, filters); }), query);
    }).catch(function (err) {
      if (results) results.textContent = "Search is unavailable: " + err.message;
    });
  }
  getJson(manifestUrl).then(function (m) { manifest = m; }).catch(function () {});
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
      run(form);
    });
    if (input && results) input.addEventListener("input", function () { run(form); });
    form.querySelectorAll("select").forEach(function (s) { s.addEventListener("change", function () { if (results) run(form); }); });
    if (prefilled && results) run(form);
  });
})();
