// Transpile src/ and test/ for node --test (esbuild: no type check here; `npm run lint` type-checks).
import { copyFileSync, mkdirSync, readdirSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const out = join(root, "build-test");
rmSync(out, { recursive: true, force: true });
const files = [];
for (const dir of ["src", "test"]) {
  for (const entry of readdirSync(join(root, dir), { recursive: true })) {
    if (String(entry).endsWith(".ts")) files.push(join(dir, String(entry)));
  }
}
await build({
  entryPoints: files,
  outdir: out,
  outbase: ".",
  absWorkingDir: root,
  format: "esm",
  platform: "node",
  target: "node20",
  bundle: false,
  supported: { "import-attributes": true },
  logLevel: "warning",
});
for (const name of ["prices.json", "providers.json"]) {
  mkdirSync(join(out, "src"), { recursive: true });
  copyFileSync(join(root, "src", name), join(out, "src", name));
}
