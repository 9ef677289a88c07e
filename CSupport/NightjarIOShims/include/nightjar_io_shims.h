/* Tiny C shims over LibRaw and libpng for Nightjar's capture pipeline (and one glibc setting).
 * Swift owns all the logic; these functions only keep C-only constructs (LibRaw's structs,
 * libpng's setjmp/longjmp error handling) out of Swift. Every failure returns a code and
 * fills a caller-provided message buffer; nothing here prints or exits. */
#ifndef NIGHTJAR_IO_SHIMS_H
#define NIGHTJAR_IO_SHIMS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- LibRaw ---------------------------------------------------------------------------- */

enum {
    NJ_RAW_OK = 0,
    NJ_RAW_ERR_OPEN = 1,        /* the file could not be opened or read at all */
    NJ_RAW_ERR_UNSUPPORTED = 2, /* LibRaw does not recognise the file (corrupt header or not a RAW) */
    NJ_RAW_ERR_CORRUPT = 3,     /* recognised, but the data are truncated or corrupt */
    NJ_RAW_ERR_TOO_LARGE = 4,   /* raw dimensions exceed the caller's pixel limit */
    NJ_RAW_ERR_NO_MEMORY = 5,
    NJ_RAW_ERR_NO_DATA = 6,     /* unpacked, but no single-plane mosaic (linear DNG, Foveon...) */
    NJ_RAW_ERR_USAGE = 7,       /* wrong call order or buffer size */
    NJ_RAW_ERR_BLACK_PATTERN = 8, /* a black-level pattern that does not repeat every 2x2 */
    NJ_RAW_ERR_CRASHED = 9,     /* the isolated decoder died (LibRaw crashed on the file) */
    NJ_RAW_ERR_TIMEOUT = 10,    /* the isolated decoder ran past its time limit and was killed */
    NJ_RAW_ERR_SYSTEM = 11      /* fork/pipe/read failed in the caller */
};

/* What kind of sensor data the file holds. */
enum {
    NJ_SENSOR_BAYER = 0,      /* 2x2 CFA with R, G, B */
    NJ_SENSOR_XTRANS = 1,     /* Fujifilm 6x6 CFA (filters == 9) */
    NJ_SENSOR_FOVEON = 2,
    NJ_SENSOR_MONOCHROME = 3, /* one colour, no CFA */
    NJ_SENSOR_LINEAR = 4,     /* already demosaiced (linear DNG, sRAW): filters == 0 */
    NJ_SENSOR_OTHER_CFA = 5   /* a CFA other than a 2x2 R/G/B Bayer (CMYG, Leaf 16x16...) */
};

typedef struct nj_raw nj_raw; /* opaque: one LibRaw handle */

typedef struct {
    int raw_width, raw_height;   /* the whole sensor readout */
    int width, height;           /* the visible area */
    int top_margin, left_margin; /* where the visible area starts inside the readout */
    unsigned raw_pitch;          /* bytes per readout row (valid after unpack) */
    int colors;                  /* idata.colors */
    unsigned filters;            /* idata.filters (0: no CFA, 9: X-Trans, <1000: other) */
    int sensor;                  /* NJ_SENSOR_* */
    int cfa[4];                  /* colour index at visible (0,0),(0,1),(1,0),(1,1); -1 if no CFA */
    char cfa_letters[5];         /* the same as letters from idata.cdesc, e.g. "RGGB" */
    char cdesc[5];               /* idata.cdesc */
    double black[4];             /* black level at the four 2x2 sites, same order as cfa[] */
    unsigned maximum;            /* white level */
    /* Where LibRaw found the raw data (checked for plausibility by the caller): the first
     * byte, the byte count the file declares (0: none), the size of the file as LibRaw read
     * it, and the raw directory's bits per sample and compression (0: not TIFF-based). */
    long long data_offset;
    long long data_size;
    long long file_size;
    unsigned bits_per_sample;
    unsigned compression;
    int flip;                    /* sizes.flip: 0 none, 3 180 deg, 5 90 deg CCW, 6 90 deg CW ... */
    unsigned dng_version;
    char make[64];
    char model[64];
    double shutter;              /* other.shutter: the exposure time in seconds (EXIF), 0 if unknown */
    int64_t timestamp;           /* other.timestamp: when the frame was taken (EXIF/DNG DateTimeOriginal,
                                  * or the TIFF DateTime), as LibRaw reads it: the camera's clock taken as
                                  * local time, in seconds since 1970; 0 if unknown */
    /* Colour calibration (LibRaw's color.cam_mul, pre_mul, rgb_cam): the as-shot white
     * balance multipliers (R, G, B, G2; 0 where the file records none), the daylight ones
     * derived from the matrix, and the camera-to-linear-sRGB matrix that applies after white
     * balance (rows R, G, B; columns camera R, G, B, G2). */
    float cam_mul[4];
    float pre_mul[4];
    float rgb_cam[3][4];
    /* The pixels were read from the file as stored (nj_raw_plain_rows), not unpacked by LibRaw. */
    int plain_samples;
} nj_raw_info;

/* Opens `path` and reads its metadata. Refuses (NJ_RAW_ERR_TOO_LARGE) before any pixel
 * buffer is allocated when raw_width * raw_height or width * height exceeds max_pixels
 * (0: no limit). On success *out holds a handle to pass to nj_raw_close. `info` is filled
 * as far as known (dimensions are filled even for TOO_LARGE). */
int nj_raw_open(const char *path, long long max_pixels, nj_raw **out, nj_raw_info *info,
                char *message, size_t message_size);

/* Unpacks the pixel data and completes `info` (sensor kind, CFA, black, white). Returns
 * NJ_RAW_ERR_CORRUPT for truncated or damaged data, NJ_RAW_ERR_NO_DATA when there is no
 * single-plane mosaic to copy. */
int nj_raw_unpack(nj_raw *raw, nj_raw_info *info, char *message, size_t message_size);

/* Copies the visible area (height rows of width values) into dst, which holds `count`
 * values (must be >= width * height). */
int nj_raw_copy_visible(nj_raw *raw, uint16_t *dst, size_t count, char *message,
                        size_t message_size);

void nj_raw_close(nj_raw *raw);

/* After nj_raw_open, instead of nj_raw_unpack for a file whose samples are plain: where its
 * visible rows lie in the file (each `2 * width` bytes), with `info` filled as nj_raw_unpack
 * fills it. `plain` is 0 for a file that must be unpacked (nj_raw_unpack then fills `info`). */
typedef struct {
    int plain;
    long long first;  /* the first visible row's offset */
    long long stride; /* from one row to the next */
    int swap;         /* big-endian samples */
} nj_raw_file_rows;
int nj_raw_plain_rows(nj_raw *raw, nj_raw_info *info, nj_raw_file_rows *rows, char *message,
                      size_t message_size);

/* The first visible pixel of the unpacked mosaic and the row pitch in pixels, after checking
 * that the visible area lies inside LibRaw's buffer. */
int nj_raw_visible_area(nj_raw *raw, const uint16_t **first, size_t *pitch, char *message,
                        size_t message_size);

/* Open, unpack and stream the visible mosaic from a forked child process, so that a crash or an
 * endless loop inside LibRaw on a damaged file cannot take the caller down. `begin` forks and
 * returns the child's `info` (the NJ_RAW_ERR_* codes of the functions above, with `info` filled
 * as far as the child got, plus CRASHED, TIMEOUT after timeout_seconds (<= 0: no limit) and
 * SYSTEM). For a Bayer image it leaves `child` active: `finish` then reads the width * height
 * pixels straight into the caller's buffer and ends the child; `cancel` ends it unread (and does
 * nothing for a child that is not active). The caller owns the record (a long-lived one, so
 * that decoding allocates nothing in the caller); nothing here allocates. */
typedef struct {
    int active;             /* a child is running and its pixels are unread */
    int pid;
    int fd;                 /* the read end of the pipe */
    double deadline;        /* CLOCK_MONOTONIC seconds, 0: none (or not yet armed) */
    double timeout_seconds;
    uint64_t count;         /* pixels that follow (one pass) */
    long long max_pixels;
    int passes;             /* times the child sends the pixels */
    uint64_t remaining;     /* pixels of all passes not read yet */
    /* The bulk data's way over (raw_isolated.c): slots of memory shared with the child, each
     * announced through the pipe and handed back through `back_fd`; NULL: through the pipe. */
    unsigned char *ring;
    size_t slot_bytes;
    int slots;
    int back_fd;            /* the parent's end of the socket that returns emptied slots */
    int slot;               /* the slot being read */
    size_t slot_filled;     /* bytes the child put in it */
    size_t slot_left;       /* of those, not read yet (0: wait for the next slot) */
    /* A file of plain samples (nj_raw_plain_rows) is read by the parent itself, through the
     * descriptor it opened before the fork and the child checked against what LibRaw opened:
     * the child sends only where the rows lie. */
    int file_fd;            /* -1: none */
    int plain;              /* the parent reads the samples */
    int plain_swap;
    long long plain_first, plain_stride; /* bytes */
    uint64_t plain_width;
    uint64_t plain_read;    /* pixels read, all passes */
} nj_raw_child;
int nj_raw_isolated_begin(const char *path, long long max_pixels, double timeout_seconds,
                          nj_raw_info *info, nj_raw_child *child, char *message,
                          size_t message_size);
/* `begin` in two halves, so that a file can be decoding while the caller does other work (the
 * next file of a batch while the network runs): `start` forks the child and returns at once;
 * `header` waits for the child's `info` and returns what `begin` returns. The time limit runs
 * from the first `wait` or `header`. `wait` waits up to `seconds` for the header: 1 when it can
 * be read (or the child ended), 0 not yet, 2 past the time limit (`header` then reports it). */
int nj_raw_isolated_start(const char *path, long long max_pixels, double timeout_seconds,
                          nj_raw_child *child, char *message, size_t message_size);
int nj_raw_isolated_wait(nj_raw_child *child, double seconds);
int nj_raw_isolated_header(nj_raw_child *child, nj_raw_info *info, char *message,
                           size_t message_size);
int nj_raw_isolated_finish(nj_raw_child *child, uint16_t *pixels, size_t count, char *message,
                           size_t message_size);
/* `start` for a child that sends the visible pixels `passes` times over (a caller holding
 * the frame in 8-bit codes reads it once for its histogram, once to encode it), and `read`,
 * which reads the next `count` pixels of that stream (rows in order, pass after pass) and
 * ends the child after the last one. For a DNG of plain 16-bit samples the child sends none:
 * `read` and `finish` read them from the file in this process (one copy, from the page cache
 * into the caller's memory, instead of the child's into shared memory and the caller's out of
 * it); a file that shrinks meanwhile is NJ_RAW_ERR_CORRUPT. */
int nj_raw_isolated_start_passes(const char *path, long long max_pixels, double timeout_seconds,
                                 int passes, nj_raw_child *child, char *message,
                                 size_t message_size);
int nj_raw_isolated_read(nj_raw_child *child, uint16_t *pixels, size_t count, char *message,
                         size_t message_size);
void nj_raw_isolated_cancel(nj_raw_child *child);

/* LibRaw's own rendering of a file, as SID's long-exposure training targets were made:
 * libraw_dcraw_process with the camera's white balance, full size, LibRaw's default demosaic,
 * sRGB with the default gamma, no auto-brightening, 16 bits; kept in the sensor's orientation
 * (the caller crops and orients). `pixels` holds width * height * 3 host-order values and lives
 * until nj_raw_render_close. Refuses files over max_pixels (0: no limit) before unpacking. */
typedef struct nj_raw_render nj_raw_render; /* opaque */
typedef struct {
    int width, height;       /* the rendered image (the readout size for TOO_LARGE) */
    int flip;                /* the file's sizes.flip (not applied) */
    const uint16_t *pixels;
} nj_raw_rendering;
int nj_raw_render_open(const char *path, long long max_pixels, nj_raw_render **out,
                       nj_raw_rendering *rendering, char *message, size_t message_size);
void nj_raw_render_close(nj_raw_render *render);

/* The same rendering made in a forked child (as nj_raw_isolated_begin decodes), streamed row
 * by row: `begin` fills width, height and flip (`pixels` stays NULL) or returns an error
 * (CRASHED, TIMEOUT and SYSTEM included); `rows` reads the next `count` values (whole rows of
 * width * 3) into dst and ends the child after the last row; nj_raw_isolated_cancel ends it
 * early. */
int nj_raw_render_isolated_begin(const char *path, long long max_pixels, double timeout_seconds,
                                 nj_raw_rendering *rendering, nj_raw_child *child, char *message,
                                 size_t message_size);
int nj_raw_render_isolated_rows(nj_raw_child *child, uint16_t *dst, size_t count, char *message,
                                size_t message_size);

/* The LibRaw version string. */
const char *nj_raw_version(void);

/* ---- libpng ---------------------------------------------------------------------------- */

typedef struct nj_png nj_png; /* opaque: one PNG being written */

/* The memory libpng and zlib work in, owned by the caller: `nj_png_begin` empties it, and every
 * allocation of that image (libpng's structs and rows, zlib's deflate state, this shim's own
 * record) is carved from it front to back; freeing is a no-op, since the next image starts
 * from the front again. What does not fit is taken from malloc (and given back to free) and
 * counted in `overflows`, so a pool too small costs allocations, never a failure; `asked` is
 * what the image needed in all, for sizing the pool before the next one. */
typedef struct {
    unsigned char *base; /* 16-byte aligned */
    size_t size;
    size_t used;
    size_t asked;        /* bytes asked for by the current (or last) image, rounded up to 16 */
    size_t overflows;    /* allocations of the current (or last) image that did not fit */
} nj_png_pool;

/* Text chunks are passed as `count` pairs packed into one buffer: "key\0value\0key\0value\0"
 * (tEXt: Latin-1 keys of 1-79 characters). At most NJ_PNG_MAX_TEXT pairs at a time. */
enum { NJ_PNG_MAX_TEXT = 8 };

/* Starts an RGB PNG written to `fd` (which the caller opened and closes) through `buffer`
 * (`buffer_size` bytes, handed to write(2) whenever it fills): the signature, IHDR and the given
 * tEXt chunks. bit_depth is 8 or 16; compression_level is 0...9 (-1: libpng's default). All
 * memory comes from `pool`. Returns NULL and fills `message` on failure (nothing is left to
 * release; the caller removes the file). */
nj_png *nj_png_begin(nj_png_pool *pool, int fd, unsigned char *buffer, size_t buffer_size,
                     uint32_t width, uint32_t height, int bit_depth, int compression_level,
                     const char *text, int text_count, char *message, size_t message_size);

/* Writes one row: width * 3 samples, uint8 for 8-bit, host-order uint16 for 16-bit.
 * Returns 0, or -1 with `message` filled; after a failure only nj_png_abandon may follow. */
int nj_png_write_row(nj_png *png, const void *row, char *message, size_t message_size);

/* Writes trailing tEXt chunks and IEND, and hands what is left in the buffer to write(2).
 * Returns 0, or -1 with `message`; libpng's state is released either way (the fd stays open).
 * All rows must have been written. */
int nj_png_end(nj_png *png, const char *text, int text_count, char *message,
               size_t message_size);

/* Abandons the image: releases libpng's state without writing more (the fd stays open; the
 * caller removes the file). NULL is ignored. */
void nj_png_abandon(nj_png *png);

/* ---- PNG image data in independent pieces (png_pieces.c) ----------------------------------- */

/* PNG filter types (one per row); ADAPTIVE picks one of the five per row (libpng's heuristic:
 * the smallest sum of residuals as signed bytes). */
enum { NJ_PNG_FILTER_NONE = 0, NJ_PNG_FILTER_SUB = 1, NJ_PNG_FILTER_UP = 2,
       NJ_PNG_FILTER_AVERAGE = 3, NJ_PNG_FILTER_PAETH = 4, NJ_PNG_FILTER_ADAPTIVE = 5 };
/* zlib strategies; HUFFMAN_DIRECT: the same coding as zlib's HUFFMAN (literals only, one
 * dynamic code per piece) written by png_pieces.c itself, several times faster; RUNS_DIRECT:
 * that coder with runs of one repeated byte as matches at distance 1 (its list of runs kept in
 * nj_deflate_piece's `memory`). */
enum { NJ_DEFLATE_DEFAULT = 0, NJ_DEFLATE_FILTERED = 1, NJ_DEFLATE_HUFFMAN = 2, NJ_DEFLATE_RLE = 3,
       NJ_DEFLATE_HUFFMAN_DIRECT = 4, NJ_DEFLATE_RUNS_DIRECT = 5 };

/* Filters `count` rows in place: each is one byte of room for the filter type followed by
 * `row_bytes` bytes of samples (row stride row_bytes + 1). `previous` is the unfiltered row
 * above the first (NULL for the image's first row). `swap16` first turns host-order 16-bit
 * samples big-endian, those of `previous` included. */
void nj_png_filter_rows(uint8_t *rows, size_t count, size_t row_bytes, uint8_t *previous,
                        int bytes_per_pixel, int swap16, int filter);

/* Memory one deflate of a piece works in (nj_deflate_piece's `memory`). */
size_t nj_deflate_memory_bytes(void);
/* Output room that always suffices for a piece of `input_bytes`. */
size_t nj_deflate_piece_bound(size_t input_bytes);
/* Deflates one piece as a raw deflate stream in `memory` (nothing is allocated): ending in a
 * full flush (byte-aligned, no final block) or, with `last`, in the final block. Fills
 * `output_bytes` and the piece's Adler-32. Returns 0, or -1 (zlib refused; output too small). */
int nj_deflate_piece(void *memory, size_t memory_bytes, int level, int strategy,
                     const uint8_t *input, size_t input_bytes, int last, uint8_t *output,
                     size_t output_capacity, size_t *output_bytes, uint32_t *adler);
/* zlib's adler32_combine and crc32. */
uint32_t nj_adler32_combine(uint32_t first, uint32_t second, size_t second_bytes);
uint32_t nj_crc32(uint32_t crc, const uint8_t *bytes, size_t count);

/* ---- PNG reading (synthesize --scene) ---------------------------------------------------- */

/* Reads the size of the PNG at `path`. Returns 0, or -1 with `message` filled. */
int nj_png_read_size(const char *path, uint32_t *width, uint32_t *height, char *message,
                     size_t message_size);

/* Reads the 8-bit PNG at `path` as sRGB RGB (libpng converts grey, palette and alpha,
 * composited on black; 16-bit PNGs are refused: libpng would take them for linear light) into `pixels`, which holds `capacity` bytes (at least
 * 3 * width * height). Returns 0, or -1 with `message` filled. */
int nj_png_read_rgb8(const char *path, uint8_t *pixels, size_t capacity, char *message,
                     size_t message_size);

/* The same two from a PNG already in memory (`size` bytes at `data`), as read by the caller's
 * input layer (FileContents: type and size checked first). */
int nj_png_read_size_memory(const void *data, size_t size, uint32_t *width, uint32_t *height,
                            char *message, size_t message_size);
int nj_png_read_rgb8_memory(const void *data, size_t size, uint8_t *pixels, size_t capacity,
                            char *message, size_t message_size);

/* Reads the 16-bit PNG at `path` as its RGB samples, unchanged (host order), into `pixels`
 * (capacity in samples, at least 3 * width * height); 8-bit PNGs are refused. For checking
 * written files. Returns 0, or -1 with `message` filled. */
int nj_png_read_rgb16(const char *path, uint16_t *pixels, size_t capacity, char *message,
                      size_t message_size);

/* ---- The process (process_shims.c) -------------------------------------------------------- */

/* Caps how many malloc arenas glibc creates (mallopt M_ARENA_MAX); 1 on success, 0 where
 * refused or not glibc. */
int nj_limit_malloc_arenas(int count);

#ifdef __cplusplus
}
#endif

#endif
