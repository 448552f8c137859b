// One colour per backend, the same on every page and chart: the known backends in a fixed order, any other name
// hashed into the palette (so adding a backend never recolours the others).

export const PALETTE = ["#3b6ea5", "#e08a2c", "#4e9a5b", "#b5485a", "#7a5ba8", "#8c6d3f", "#3f9ba8", "#a8a23f"];
const KNOWN: Record<string, string> = { local: PALETTE[0], s3: PALETTE[1], gcs: PALETTE[2], azure: PALETTE[3] };

export function backendColor(name: string): string {
  if (KNOWN[name]) return KNOWN[name];
  let h = 0;
  for (const ch of name) h = (h * 31 + ch.charCodeAt(0)) >>> 0;
  return PALETTE[4 + (h % (PALETTE.length - 4))];
}
