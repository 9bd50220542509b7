/**
 * Edge entry point (Vercel Edge, Cloudflare Workers, Deno, browsers): no `node:` import, `fetch`
 * only, gzip through CompressionStream, request scopes through the runtime's global
 * AsyncLocalStorage where it has one. In serverless handlers call `waitUntil(flush())`.
 */

export * from "./index.js";
