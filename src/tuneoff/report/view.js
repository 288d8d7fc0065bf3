// tuneoff report: sort and filter the leaderboard, and draw the interactive charts (Vega-Lite, inlined).
// A table with data-filter="player strategy dataset" gets one <select> per key its rows carry (data-<key>);
// clicking a header sorts by that column (numbers by value, the rest as text). The filter also sets the
// charts' f_<key> params, so the charts show the same players as the table.
(function () {
  const views = [];
  const filter = {};

  function key(cell) {
    const text = cell.innerText.trim();
    const number = parseFloat(text.replace(/,/g, ""));
    return Number.isNaN(number) ? text.toLowerCase() : number;
  }

  function sortable(table) {
    table.querySelectorAll("thead th").forEach((th, column) => {
      th.tabIndex = 0;
      th.title = "sort by this column";
      const sort = () => {
        const up = th.getAttribute("aria-sort") !== "ascending";
        table.querySelectorAll("thead th").forEach(h => h.removeAttribute("aria-sort"));
        th.setAttribute("aria-sort", up ? "ascending" : "descending");
        const body = table.tBodies[0];
        const rows = [...body.rows].map((r, i) => [key(r.cells[column]), i, r]);
        rows.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] - b[1]) * (up ? 1 : -1));
        rows.forEach(r => body.appendChild(r[2]));
      };
      th.addEventListener("click", sort);
      th.addEventListener("keydown", e => { if (e.key === "Enter") sort(); });
    });
  }

  function apply(table, count) {
    const rows = [...table.tBodies[0].rows];
    rows.forEach(r => { r.hidden = Object.entries(filter).some(([k, v]) => v && r.dataset[k] !== v); });
    count.textContent = `${rows.filter(r => !r.hidden).length} of ${rows.length} players shown`;
    views.forEach(v => { Object.entries(filter).forEach(([k, x]) => v.signal("f_" + k, x)); v.runAsync(); });
  }

  function filterable(table) {
    const bar = document.createElement("div");
    bar.className = "filters";
    const count = document.createElement("span");
    table.dataset.filter.split(" ").forEach(k => {
      const values = [...new Set([...table.tBodies[0].rows].map(r => r.dataset[k]))].sort();
      const label = document.createElement("label");
      const select = document.createElement("select");
      select.name = k;
      select.add(new Option("all", ""));
      values.forEach(v => select.add(new Option(v, v)));
      select.addEventListener("change", () => { filter[k] = select.value; apply(table, count); });
      filter[k] = "";
      label.append(k === "dataset" ? "data set " : k + " ", select);
      bar.append(label);
    });
    bar.append(count);
    table.parentElement.before(bar);
    apply(table, count);
  }

  document.querySelectorAll("table[data-filter]").forEach(t => { sortable(t); filterable(t); });
  const embeds = [...document.querySelectorAll("div.view[data-spec]")].map(div => {
    const spec = JSON.parse(document.getElementById(div.dataset.spec).textContent);
    return vegaEmbed(div, spec, {actions: false, renderer: "svg"}).then(result => {
      if (div.dataset.linked) {  // the charts with f_<key> params follow the leaderboard's filter
        Object.entries(filter).forEach(([k, x]) => result.view.signal("f_" + k, x));
        views.push(result.view);
      }
      return result.view.runAsync();
    });
  });
  Promise.all(embeds).then(() => { document.body.dataset.views = "ready"; },
                           e => { console.error("interactive view:", e); });
})();
