"""Every threshold the planner's heuristic rules use, each with what it trades.

The figures that justify each value are in docs/benchmarks.md ("Planner
thresholds"), measured over bench/zoo.json and bench/suite.json;
bench/derive_tuning.py measures them again on a new machine with the measured
planner and prints the values it finds.
"""

from __future__ import annotations

# Groups with at most this many (big x small) channel pairs run the direct loops
# (depthwise): below it a GEMM per group is all call overhead; above it the loops'
# one multiply-add per tap and pixel falls behind a GEMM's blocked ones.
DIRECT_PAIRS = 32

# A strided depthwise conv runs as stride-1 loops over the input split into its stride
# phases (depthwise.phased) when its taps read at least this many taps per phase: the
# split costs a strided copy of each plane, repaid by runs over a whole phase grid
# instead of strided rows.
PHASE_TAPS = 3

# A stride-1 depthwise conv (one channel per group on each side) whose output planes
# have the input planes' shape, with at most this many kernel taps x plane positions
# x item bytes of per-position weights per channel, runs as flat runs over blocks of
# channels (depthwise.flat): no copies into a canvas and out, but a load of a weight
# beside every input it multiplies, and the weights are built per block.
FLAT_WEIGHTS = 1 << 16

# ... and at most this many kernel taps: the runs load and store their outputs once
# per three taps, where the planes' loops do once per nine.
FLAT_TAPS = 9

# ... in blocks of channels whose runs are about this many positions: long enough for
# the vector loop, short enough that a block's weights stay in the cache.
FLAT_RUN = 4096

# Another depthwise conv (one channel per group on each side) with at most this many
# positions per output plane runs channels last (depthwise.lanes): runs along the
# channels are long where a plane's rows are a few elements, but it copies x and y
# between layouts, which longer rows do not repay.
LANES_POSITIONS = 64

# ... or, strided, at most this many: the planes' strided rows are the slowest runs.
LANES_STRIDED_POSITIONS = 256

# ... each block of channels of it padded into a canvas of at most this many bytes
# (per thread): more channels per block make longer runs, fewer stay in the L2 cache.
LANES_CANVAS = 1 << 18

# ... and so do groups with at most this many channels on one side (and at most
# MEASURE_DEPTHWISE_PAIRS pairs): a GEMM with one or two rows runs as a GEMV.
DIRECT_MIN_CHANNELS = 0

# ... but not groups with at least this many small channels and at most
# DIRECT_MAX_BIG big ones (a first layer of 1-3 input channels): a GEMM with that many
# rows over the K*B taps runs at a BLAS's blocked rate, the loops at one multiply-add
# per tap, channel and pixel.
DIRECT_MAX_ROWS = 16
DIRECT_MAX_BIG = 4

# The measured planner times the direct loops (direct.py) on convs of at most this many
# taps per output (B * K): beyond it a GEMM's K is long enough for its blocked rate.
DIRECT_MEASURE_TAPS = 256

# A transposed stride-1 conv is mirrored (a conv of the small side) unless the big
# side has fewer than 1/MIRROR_RATIO of the small side's channels: then col2im's
# columns, sized by the big side, are the smaller ones.
MIRROR_RATIO = 4

# ... and only where the big side has at most this many positions per small-side one:
# the mirrored conv computes every big position from every tap, where the overlap-add
# touches only what the small side's positions reach (a transposed conv of a 1x1 input).
MIRROR_WASTE = 2.0

# Output rows shorter than this gather columns channels last (gemm) and take the
# channels-last overlap-add (col2im): runs along channels are longer than along rows.
SHORT = 8

# Convs with fewer big channels per group than this never gather channels last for
# a strided geometry (gemm._gathers_last): each copy runs over B channels of a window
# row, a handful for a first layer, and the product's transposed copy into y costs more
# than the GEMM; positions-last columns per sample, product written into y, instead.
LAST_CHANNELS = 8

# A strided weight gradient with short rows runs as a sum of stride-1 phases when
# there are at most this many: each phase is a dense GEMM without the zero
# taps, but each costs a gather and a GEMM call of its own.
MAX_PHASES = 0

# Winograd F(2x2, 3x3) needs at least this many channels on each side: its transforms
# cost per channel what the GEMMs save per channel pair.
WINOGRAD_CHANNELS = 16

# ... and at least this many 2x2 output tiles times the smaller channel count: the
# weight's transform is made once per call and the 16 point GEMMs, each of tiles rows
# and min(B, M) columns or inner size, run far below the BLAS's peak when both are small.
WINOGRAD_WORK = 96 * 1024

# shifted (implicit im2col on a flat canvas) computes every canvas position,
# including the margin beyond the output grid; above this many canvas positions per
# output position the waste outweighs the columns it saves.
MAX_MARGIN = 1.1

# Outputs of at least this many elements add their bias plane by plane on npconv's
# threads: NumPy's broadcast add runs one short loop per plane on one core.
BIAS_SPLIT = 1 << 16

# Problems whose columns (every tap of every window, indirect.columns) have at most
# this many elements run by the indirect algorithm: one gather through a cached table
# and one GEMM, the fewest steps per call of any algorithm; above it the columns
# outgrow the caches that gemm's and shifted's tiles stay within.
INDIRECT_COLUMNS = 1 << 18

# A strided conv, or the weight gradient of one, whose windows overlap this little (taps
# at most this many times the stride's volume: a 2x2 stride-2 conv has 1) gathers by
# indirect's table whatever its size: its columns are about x's size, one table lookup
# per element, where gemm's channels-last gather copies runs of B channels and the
# product is copied again (with fewer than LAST_CHANNELS input channels gemm writes its
# product into y, uncopied).
INDIRECT_OVERLAP = 3.0

# Problems of fewer multiply-adds than this run on the calling thread alone: no
# hand-off to npconv's workers and no change of the BLAS's thread count, whose
# fixed costs exceed what a second core saves on so little work.
INLINE_MACS = 1 << 18

# The measured planner times each candidate this many times (after one untimed
# warm-up run, which also compiles) and keeps the best; more for fast problems, whose
# times a scheduler tick moves the most.
MEASURE_RUNS = 3
MEASURE_FAST_RUNS = 5
MEASURE_FAST_SECONDS = 2e-3
# ... but a candidate whose first timed run is this many times the fastest one's is timed
# no more: noise does not move a time that far, and each of its runs costs the caller.
MEASURE_PATIENCE = 3.0
# ... and does not try the direct loops on groups with more channel pairs than this:
# they would take minutes where a GEMM takes milliseconds.
MEASURE_DEPTHWISE_PAIRS = 64

# The indirect algorithm's gather runs on npconv's threads from this many elements.
SPLIT_GATHER = 1 << 16

# FFT takes kernels of at least this many taps whose cost model (fft.cost) is at least
# FFT_MARGIN times below the direct estimate (fft.direct_cost): its transforms cost per
# channel and position what direct convolution spends per tap, and its rounding is
# relative to the largest output, not to each.
FFT_MIN_TAPS = 100
FFT_MARGIN = 2.0
