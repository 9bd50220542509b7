import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/** sdk/typescript (tests run from build-test/test). */
export const PKG = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
export const REPO = join(PKG, "..", "..");
export function repoPath(path: string): string {
  return join(REPO, path);
}
