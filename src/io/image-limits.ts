// The bound on decoded images, in a leaf module: the data set index checks it without loading the
// addon, and preprocessing, serving and training share the one number.

/** The largest image decoded (width x height): 8,192 x 8,192 is 67 MP. A small file can declare
 * a huge image (a PNG of a few KB can say 100,000 x 100,000); it is refused before decoding. */
export const MAX_IMAGE_PIXELS = 100_000_000;
