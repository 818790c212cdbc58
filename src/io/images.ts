// Pictures for people: a grid of images with titles, rendered with sharp (text via an SVG
// overlay). Images come as float [N, 3, H, W] in [0, 1] (values outside are clipped).
import sharp from 'sharp';
import { noGrad } from '../autograd';
import type { Tensor } from '../tensor';

export interface GridOptions {
  /** Images per row; default 3. */
  columns?: number;
  /** Upscaling factor (nearest neighbour, so pixels stay visible); default 5. */
  scale?: number;
  /** Title colour per image (CSS colour); default black. */
  colors?: string[];
}

const escapeXml = (text: string) =>
  text.replace(/[<>&'"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', "'": '&apos;', '"': '&quot;' })[c]!);

/** A PNG of `images` in a grid, each titled. */
export async function renderImageGrid(images: Tensor, titles: string[], options: GridOptions = {}): Promise<Buffer> {
  const [n, channels, h, w] = images.shape;
  if (channels !== 3) throw new RangeError(`renderImageGrid needs RGB images [N, 3, H, W], got [${images.shape.join(', ')}]`);
  if (titles.length !== n) throw new RangeError(`renderImageGrid got ${n} images but ${titles.length} titles`);
  const columns = Math.min(options.columns ?? 3, n);
  const rows = Math.ceil(n / columns);
  const scale = options.scale ?? 5;
  const cellW = w * scale;
  const cellH = h * scale;
  const titleH = 28;
  const pad = 12;
  // Each slot is wide enough for its column's longest title (about 8.6 px a character at 15 px).
  const slotW = Math.max(cellW, Math.ceil(Math.max(...titles.map((t) => t.length)) * 8.6));
  const width = columns * (slotW + pad) + pad;
  const height = rows * (cellH + titleH + pad) + pad;
  const hwc = noGrad(() => images.clamp(0, 1).mul(255).add(0.5).to('uint8').permute([0, 2, 3, 1]).contiguous());
  const bytes = hwc.toArray() as Uint8Array;
  hwc.dispose();
  const tiles = await Promise.all(
    Array.from({ length: n }, async (_, i) => ({
      input: await sharp(Buffer.from(bytes.buffer, bytes.byteOffset + i * h * w * 3, h * w * 3), { raw: { width: w, height: h, channels: 3 } })
        .resize(cellW, cellH, { kernel: 'nearest' })
        .png()
        .toBuffer(),
      left: pad + (i % columns) * (slotW + pad) + Math.floor((slotW - cellW) / 2),
      top: pad + Math.floor(i / columns) * (cellH + titleH + pad) + titleH,
    })),
  );
  const text = titles
    .map((title, i) => {
      const x = pad + (i % columns) * (slotW + pad) + slotW / 2;
      const y = pad + Math.floor(i / columns) * (cellH + titleH + pad) + titleH - 8;
      const fill = escapeXml(options.colors?.[i] ?? 'black');
      return `<text x="${x}" y="${y}" text-anchor="middle" font-family="DejaVu Sans, sans-serif" font-size="15" fill="${fill}">${escapeXml(title)}</text>`;
    })
    .join('');
  const svg = Buffer.from(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">${text}</svg>`);
  return sharp({ create: { width, height, channels: 3, background: '#ffffff' } })
    .composite([...tiles, { input: svg, left: 0, top: 0 }])
    .png()
    .toBuffer();
}
