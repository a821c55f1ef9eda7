"""Types of the compiled kernel (``_kernel.c``); see ``native_backend`` for its use."""

from collections.abc import Sequence

from posecog.nodes.items import FloatArray

#: "avx2+fma" or "generic": the code path chosen for this CPU at import.
ISA: str

def prepare(
    convs: Sequence[tuple[FloatArray, FloatArray, int, int]],
    fc1_weight: FloatArray,
    fc1_bias: FloatArray,
    fc2_weight: FloatArray,
    fc2_bias: FloatArray,
    mean: FloatArray | None,
    std: FloatArray | None,
    /,
) -> object: ...  # an opaque capsule
def forward(model: object, x: FloatArray, out: FloatArray, /) -> None: ...
def infer(
    model: object,
    frames: FloatArray,
    subcarrier_major: bool,
    keypoints: FloatArray,
    confidence: FloatArray,
    /,
) -> None: ...
def confidence(frames: FloatArray, keypoints: FloatArray, out: FloatArray, /) -> None: ...
