/*
 * fuzz_exif — the EXIF orientation reader (lib/image_exif.c) on its own: the input as an
 * EXIF block (a TIFF header and its first IFD).  The value must be -1 or a 16-bit
 * number, and nothing outside the input may be read.
 */
#include "fuzz.h"
#include "image_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    int o = lx_exif_orientation(data, size);
    if (o < -1 || o > 0xffff) abort();
    return 0;
}
