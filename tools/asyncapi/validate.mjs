// Validate an AsyncAPI document with the AsyncAPI project's parser; exit 1 on any error.
import { readFile } from "node:fs/promises";
import { Parser } from "@asyncapi/parser";

const path = process.argv[2] ?? "../../docs/asyncapi.json";
const parser = new Parser();
const { document, diagnostics } = await parser.parse(await readFile(path, "utf8"));
const errors = diagnostics.filter((d) => d.severity === 0);
for (const d of diagnostics) {
  const level = ["error", "warning", "info", "hint"][d.severity];
  console.log(`${level}: ${d.message} at ${d.path.join("/")}`);
}
if (!document || errors.length) {
  console.error(`${path}: ${errors.length} error(s)`);
  process.exit(1);
}
console.log(`${path}: valid AsyncAPI ${document.version()}, ${document.channels().length} channels, ` +
  `${document.operations().length} operations, ${document.messages().length} messages`);
