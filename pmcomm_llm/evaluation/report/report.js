(function () {
  var only = document.getElementById("failures-only");
  var filter = document.getElementById("criterion-filter");
  var counter = document.getElementById("shown-count");
  var cards = Array.prototype.slice.call(document.querySelectorAll(".card"));
  function apply() {
    var q = filter.value.trim().toLowerCase();
    var shown = 0;
    cards.forEach(function (card) {
      var failing = (card.getAttribute("data-failing") || "").split(" ").filter(Boolean);
      var hide = (only.checked && card.getAttribute("data-passed") === "true") ||
        (q !== "" && !failing.some(function (id) { return id.toLowerCase().indexOf(q) !== -1; }));
      card.hidden = hide;
      if (!hide) { shown += 1; }
    });
    counter.textContent = shown + " of " + cards.length + " drafts shown";
  }
  only.addEventListener("change", apply);
  filter.addEventListener("input", apply);
  Array.prototype.forEach.call(document.querySelectorAll("[data-criterion]"), function (el) {
    el.addEventListener("click", function () {
      filter.value = filter.value === el.getAttribute("data-criterion") ? "" : el.getAttribute("data-criterion");
      apply();
    });
  });
  apply();
})();
