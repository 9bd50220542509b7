/** What differs between runtimes, installed by the entry points (index.node.ts, index.edge.ts). */

export type Gzip = (text: string) => Promise<Uint8Array | null>;

/** gzip through the Web Streams CompressionStream where the runtime has it, else none (plain JSON). */
export const webGzip: Gzip = async (text) => {
  const CS = (globalThis as { CompressionStream?: new (format: string) => TransformStream<Uint8Array, Uint8Array> }).CompressionStream;
  if (typeof CS !== "function") return null;
  const stream = new Blob([text]).stream().pipeThrough(new CS("gzip"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
};

export const platform: { gzip: Gzip } = { gzip: webGzip };
