// Build: ESM + CJS bundles of the Node and edge entry points (esbuild), and .d.ts (tsc).
import { execFileSync } from "node:child_process";
import { rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
rmSync(join(root, "dist"), { recursive: true, force: true });
const common = { bundle: true, target: "es2022", logLevel: "warning", absWorkingDir: root, legalComments: "none" };
const entries = [
  ["src/index.node.ts", "node", "node"],
  ["src/index.edge.ts", "edge", "neutral"],
];
for (const [entry, name, platform] of entries) {
  for (const format of ["esm", "cjs"]) {
    await build({
      ...common,
      entryPoints: [entry],
      outfile: `dist/${name}.${format === "esm" ? "mjs" : "cjs"}`,
      format,
      platform,
      mainFields: ["module", "main"],
    });
  }
}
execFileSync(process.execPath, [join(root, "node_modules/typescript/bin/tsc"), "-p", "tsconfig.build.json"], {
  cwd: root,
  stdio: "inherit",
});
