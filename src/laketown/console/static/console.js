// Entry point of the console page: wires the catalog, the table view and the SQL editor.
import { loadCatalog, showTable, tableFromHash } from "./catalog.js";
import { runSql, setQuery, setupSql, suggestQuery } from "./sql.js";

function showView(name) {
  for (const view of ["sql", "table"]) {
    document.getElementById(`view-${view}`).hidden = view !== name;
    const tab = document.getElementById(`tab-${view}`);
    tab.classList.toggle("active", view === name);
    tab.setAttribute("aria-selected", String(view === name));
  }
}

function route() {
  const table = tableFromHash();
  if (table) {
    const tab = document.getElementById("tab-table");
    tab.disabled = false;
    tab.textContent = `Table: ${table}`;
    tab.dataset.table = table;
    showView("table");
    showTable(table);
  } else {
    showView("sql");
  }
}

async function main() {
  // the editor works at once; the catalog (and the default query it suggests) comes when loaded
  setupSql();
  document.getElementById("catalog-refresh").addEventListener("click", loadCatalog);
  document.getElementById("tab-sql").addEventListener("click", () => {
    location.hash = "#sql";
  });
  document.getElementById("tab-table").addEventListener("click", (event) => {
    const table = event.currentTarget.dataset.table;
    if (table) location.hash = `#table=${table}`;
  });
  document.getElementById("table-query").addEventListener("click", () => {
    const table = document.getElementById("table-title").textContent;
    setQuery(`SELECT *\nFROM ${table}\nLIMIT 100`);
    location.hash = "#sql";
    runSql();
  });
  window.addEventListener("hashchange", route);
  route();
  const tables = await loadCatalog();
  suggestQuery(tables.length ? `SELECT *\nFROM ${tables[0].name}\nLIMIT 100` : "SELECT 42 AS answer");
  document.body.dataset.ready = "true";
}

main();
