// One express-pouchdb server (PouchDB 9 on LevelDB) on loopback, for
// tests/bench/sidebyside.py: node server.js PORT DIR. Prints "listening"
// once it answers; SIGTERM stops it.
"use strict";
const path = require("path");
const fs = require("fs");
const express = require("express");
const PouchDB = require("pouchdb");

const port = Number(process.argv[2]);
const dir = process.argv[3];
fs.mkdirSync(dir, { recursive: true });
const Local = PouchDB.defaults({ prefix: dir + path.sep });
const app = express();
app.use("/", require("express-pouchdb")(Local, {
  mode: "fullCouchDB",
  configPath: path.join(dir, "config.json"),
  logPath: path.join(dir, "log.txt"),
}));
const server = app.listen(port, "127.0.0.1", () => console.log("listening"));
process.on("SIGTERM", () => server.close(() => process.exit(0)));
