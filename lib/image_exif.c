/*
 * image_exif.c — the EXIF orientation, read the way OpenCV 4.6 reads it
 * (modules/imgcodecs/src/exif.cpp, ExifReader::parseExif and parseExifEntry), so that
 * an image is turned exactly when cv2.imread turns it.
 *
 * OpenCV walks the entries of the first IFD only, in order, and decodes each tag it
 * knows as it goes; the first read that would leave the block ends the walk (it throws
 * ExifParsingError, which parseExif catches) but keeps the entries decoded before it.
 * So a block damaged after its orientation entry still turns the image, and one damaged
 * before it (a string or rational tag pointing outside the block, a truncated entry)
 * does not.  The details reproduced here, each as exif.cpp has them:
 *   - byte order: "II" little-endian; anything else big-endian, also when the two
 *     first bytes differ (getFormat returns NONE and getU16/getU32 read big-endian);
 *   - the 16-bit word at 2 must be 42 (checkTagMark), the IFD offset is the 32-bit word
 *     at 4 (getStartOffset), the entry count the 16-bit word there;
 *   - a 16-bit read at o needs o + 1 < n, a 32-bit one o + 3 < n (getU16, getU32);
 *   - the orientation is the 16-bit word at entry + 8 whatever the entry's type and
 *     count (getOrientation), and the first orientation entry wins (std::map::insert);
 *   - string tags: count = 32-bit word at entry + 4; the data is at offset 8 of the
 *     block when count <= 4 (not inside the entry: OpenCV's reading), else at the 32-bit
 *     offset at entry + 8; it must lie within the block (getString);
 *   - rational tags: the 32-bit offset at entry + 8, then 1, 2, 3 or 6 pairs of 32-bit
 *     words there (getResolution, getWhitePoint, getYCbCrCoeffs, getPrimaryChromaticies,
 *     getRefBW); 16-bit tags: the word at entry + 8.
 * Offsets are kept in 64 bits, so no sum here wraps; OpenCV's 32-bit sums cannot wrap
 * either before one of its bound checks has failed.
 */
#include "image_internal.h"

enum {
    TAG_IMAGE_DESCRIPTION = 0x010E,
    TAG_MAKE = 0x010F,
    TAG_MODEL = 0x0110,
    TAG_ORIENTATION = 0x0112,
    TAG_XRESOLUTION = 0x011A,
    TAG_YRESOLUTION = 0x011B,
    TAG_RESOLUTION_UNIT = 0x0128,
    TAG_SOFTWARE = 0x0131,
    TAG_DATE_TIME = 0x0132,
    TAG_WHITE_POINT = 0x013E,
    TAG_PRIMARY_CHROMATICITIES = 0x013F,
    TAG_YCBCR_COEFFICIENTS = 0x0211,
    TAG_YCBCR_POSITIONING = 0x0213,
    TAG_REFERENCE_BLACK_WHITE = 0x0214,
    TAG_COPYRIGHT = 0x8298
};

typedef struct exif {
    const uint8_t *d;
    uint64_t n;
    int le;                       /* 1: "II" (Intel) byte order */
} exif;

/* 0 with *v, or -1 where OpenCV's getU16 / getU32 would throw. */
static int u16(const exif *x, uint64_t o, uint32_t *v) {
    if (o + 1 >= x->n) return -1;
    const uint8_t *p = x->d + o;
    *v = x->le ? (uint32_t)p[0] | (uint32_t)p[1] << 8 : (uint32_t)p[0] << 8 | p[1];
    return 0;
}

static int u32(const exif *x, uint64_t o, uint32_t *v) {
    if (o + 3 >= x->n) return -1;
    const uint8_t *p = x->d + o;
    *v = x->le ? (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
                     (uint32_t)p[3] << 24
               : (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
    return 0;
}

/* k unsigned rationals (two 32-bit words each) at the offset stored at entry + 8. */
static int rationals(const exif *x, uint64_t entry, int k) {
    uint32_t at, v;
    if (u32(x, entry + 8, &at) < 0) return -1;
    for (int i = 0; i < k; i++)
        if (u32(x, (uint64_t)at + 8 * i, &v) < 0 || u32(x, (uint64_t)at + 8 * i + 4, &v) < 0)
            return -1;
    return 0;
}

/* An ASCII tag's data must lie within the block (see the top of the file). */
static int ascii(const exif *x, uint64_t entry) {
    uint32_t count, at = 8;
    if (u32(x, entry + 4, &count) < 0) return -1;
    if (count > 4 && u32(x, entry + 8, &at) < 0) return -1;
    return (uint64_t)at > x->n || (uint64_t)at + count > x->n ? -1 : 0;
}

int lx_exif_orientation(const uint8_t *d, size_t n) {
    exif x = {d, n, 0};
    if (n == 0) return -1;
    x.le = d[0] == 'I' && (n < 2 || d[1] == 'I');
    uint32_t mark, ifd, count, tag, v;
    if (u16(&x, 2, &mark) < 0 || mark != 42) return -1;
    if (u32(&x, 4, &ifd) < 0 || u16(&x, ifd, &count) < 0) return -1;
    int orientation = -1;
    uint64_t entry = (uint64_t)ifd + 2;
    for (uint32_t i = 0; i < count; i++, entry += 12) {
        if (u16(&x, entry, &tag) < 0) break;
        int bad = 0;
        switch (tag) {
        case TAG_ORIENTATION:
            bad = u16(&x, entry + 8, &v);
            if (!bad && orientation < 0) orientation = (int)v;
            break;
        case TAG_IMAGE_DESCRIPTION: case TAG_MAKE: case TAG_MODEL: case TAG_SOFTWARE:
        case TAG_DATE_TIME: case TAG_COPYRIGHT:
            bad = ascii(&x, entry);
            break;
        case TAG_XRESOLUTION: case TAG_YRESOLUTION:
            bad = rationals(&x, entry, 1);
            break;
        case TAG_WHITE_POINT:
            bad = rationals(&x, entry, 2);
            break;
        case TAG_YCBCR_COEFFICIENTS:
            bad = rationals(&x, entry, 3);
            break;
        case TAG_PRIMARY_CHROMATICITIES: case TAG_REFERENCE_BLACK_WHITE:
            bad = rationals(&x, entry, 6);
            break;
        case TAG_RESOLUTION_UNIT: case TAG_YCBCR_POSITIONING:
            bad = u16(&x, entry + 8, &v);
            break;
        default:                  /* EXIF_OFFSET and unknown tags: nothing is read */
            break;
        }
        if (bad) break;
    }
    return orientation;
}
