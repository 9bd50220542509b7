import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { PKG } from "./helpers.js";

const npm = process.platform === "win32" ? "npm.cmd" : "npm";

function node(cwd: string, args: string[]): string {
  return execFileSync(process.execPath, args, { cwd, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
}

test("npm pack → offline install → ESM, CommonJS and edge builds import and price", () => {
  const dir = mkdtempSync(join(tmpdir(), "costobs-ts-install-"));
  try {
    execFileSync(npm, ["pack", "--silent", "--pack-destination", dir], { cwd: PKG, stdio: ["ignore", "pipe", "pipe"] });
    const tarball = readdirSync(dir).find((f) => f.endsWith(".tgz"));
    assert.ok(tarball, "npm pack made a tarball");
    writeFileSync(join(dir, "package.json"), JSON.stringify({ name: "install-check", private: true, version: "0.0.0" }));
    execFileSync(npm, ["install", "--offline", "--no-audit", "--no-fund", "--ignore-scripts", `./${tarball}`], {
      cwd: dir,
      stdio: ["ignore", "pipe", "pipe"],
    });
    const check = `const usage = { input_tokens: 1000, output_tokens: 20 };
      const q = m.quote({ provider: "openai", model: "gpt-4o-2024-08-06", usage, at: Date.parse("2026-11-01T00:00:00Z") });
      console.log([typeof m.wrap, typeof m.requestContext, typeof m.costobsMiddleware, q.costUsd].join(" "));`;
    const expected = "function function function 0.0027\n";
    assert.equal(node(dir, ["--input-type=module", "-e", `const m = await import("@costobs/sdk"); ${check}`]), expected);
    assert.equal(node(dir, ["-e", `const m = require("@costobs/sdk"); ${check}`]), expected);
    assert.equal(
      node(dir, ["--conditions=edge-light", "--input-type=module", "-e", `const m = await import("@costobs/sdk"); ${check}`]),
      expected,
    );
    assert.equal(node(dir, ["-e", `const m = require("@costobs/sdk/edge"); ${check}`]), expected);
    // which file each condition picks
    const resolved = node(dir, ["--input-type=module", "-e", `console.log(import.meta.resolve("@costobs/sdk"))`]);
    assert.match(resolved, /dist\/node\.mjs/);
    const files = readdirSync(join(dir, "node_modules", "@costobs", "sdk", "dist", "types"));
    assert.ok(files.includes("index.node.d.ts") && files.includes("index.edge.d.ts"));
    const installed = readdirSync(join(dir, "node_modules"));
    assert.deepEqual(
      installed.filter((n) => !n.startsWith(".")),
      ["@costobs"],
      "zero runtime dependencies",
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
