/* Sorting, filtering and paging for the report's big tables: plain script, no library, works from file://.
 *
 * Every row is in the page as data (a JSON island: its HTML, its sort keys, its filter values), and only a page
 * of rows is in the table at a time, so a portfolio of thousands opens as fast as one of a hundred. Without
 * script the first page, rendered on the server, is still there.
 */
(function () {
  "use strict";

  function compare(a, b, sign) {
    // Missing values ("no data") always sort last, whichever the direction.
    if (a === null || b === null) { return a === b ? 0 : (a === null ? 1 : -1); }
    return a < b ? -sign : a > b ? sign : 0;
  }

  function DataTable(table) {
    var island = document.getElementById(table.getAttribute("data-island"));
    this.table = table;
    this.rows = JSON.parse(island.textContent);
    this.rows.forEach(function (row, i) { row.i = i; });
    this.order = this.rows.slice();
    this.page = Number(table.getAttribute("data-page")) || 100;
    this.shown = this.page;
    this.form = document.querySelector('form.filters[data-table="' + table.id + '"]');
    this.more = document.getElementById(table.id + "-more");
    this.status = document.getElementById(table.id + "-status");
    var self = this;
    table.querySelectorAll("th[aria-sort] button").forEach(function (button) {
      button.addEventListener("click", function () { self.sortBy(button.parentNode); });
    });
    if (this.form) {
      this.form.addEventListener("input", function () { self.shown = self.page; self.render(); });
      this.form.addEventListener("submit", function (event) { event.preventDefault(); });
      this.form.addEventListener("reset", function () {
        setTimeout(function () { self.shown = self.page; self.render(); }, 0);
      });
    }
    if (this.more) {
      this.more.querySelector("[data-more=page]").addEventListener("click", function () {
        self.shown += self.page; self.render();
      });
      this.more.querySelector("[data-more=all]").addEventListener("click", function () {
        self.shown = Infinity; self.render();
      });
    }
    this.render();
  }

  DataTable.prototype.matches = function () {
    if (!this.form) { return this.order; }
    var wanted = [];
    this.form.querySelectorAll("select[data-attr]").forEach(function (select) {
      if (select.value !== "") { wanted.push([select.getAttribute("data-attr"), select.value]); }
    });
    var search = this.form.querySelector("input[data-attr]");
    var text = search ? search.value.trim().toLowerCase() : "";
    return this.order.filter(function (row) {
      for (var i = 0; i < wanted.length; i += 1) {
        if (row.f[wanted[i][0]] !== wanted[i][1]) { return false; }
      }
      return !text || row.s.indexOf(text) >= 0;
    });
  };

  DataTable.prototype.render = function () {
    var matching = this.matches();
    var visible = matching.slice(0, this.shown);
    this.table.tBodies[0].innerHTML = visible.map(function (row) { return row.h; }).join("");
    var out = this.form ? this.form.querySelector("output") : null;
    if (out) {
      var label = this.form.getAttribute("data-sum-label");
      var sum = matching.reduce(function (total, row) { return total + (row.v || 0); }, 0);
      out.textContent = "Showing " + visible.length.toLocaleString() + " of " + matching.length.toLocaleString() +
        (matching.length < this.rows.length ? " matching (" + this.rows.length.toLocaleString() + " in all)" : "") +
        (label ? "; " + label + " " + Math.round(sum).toLocaleString() : "");
    }
    if (this.more) { this.more.hidden = visible.length >= matching.length; }
  };

  DataTable.prototype.sortBy = function (header) {
    var column = Number(header.getAttribute("data-col"));
    var numeric = header.getAttribute("data-type") === "num";
    var now = header.getAttribute("aria-sort");
    var direction = now === "descending" ? "ascending" : now === "ascending" ? "descending"
      : (numeric ? "descending" : "ascending");
    var sign = direction === "ascending" ? 1 : -1;
    this.order.sort(function (a, b) { return compare(a.k[column], b.k[column], sign) || a.i - b.i; });
    this.table.querySelectorAll("th[aria-sort]").forEach(function (th) { th.setAttribute("aria-sort", "none"); });
    header.setAttribute("aria-sort", direction);
    if (this.status) { this.status.textContent = "Sorted by " + header.textContent.trim() + ", " + direction + "."; }
    this.render();
  };

  document.querySelectorAll("table[data-island]").forEach(function (table) { table.dataTable = new DataTable(table); });
}());
