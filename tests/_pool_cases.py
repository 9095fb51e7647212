"""Pooling cases shared by the CPU and CUDA operator tests: (shape, kernel, stride, padding, ceil)."""
CASES = [
    ((2, 3, 5, 6, 7), 2, None, 0, False),                       # cubic, stride = kernel
    ((2, 3, 5, 6, 7), 3, 2, 1, True),                           # overlap, padding, ceil_mode
    ((1, 4, 7, 9, 11), (2, 3, 3), (1, 2, 1), (1, 1, 0), True),  # non-cubic, stride 1 (overlap)
    ((3, 5, 4, 6, 5), (1, 3, 3), (1, 2, 2), (0, 1, 1), False),  # the ResNet stem pool
    ((2, 5, 4, 6, 5), 2, 3, (1, 0, 1), True),                   # stride > kernel
    ((2, 300, 4, 6, 5), 2, 2, 0, False),                        # many channels (several lane chunks)
    ((1, 2, 3, 5, 300), (3, 3, 3), (1, 1, 2), 1, True),         # long rows
    ((2, 3, 8, 7, 7), (8, 7, 7), 1, 0, False),                  # a head pool: one window
    ((1, 1, 1, 1, 1), 1, None, 0, False),                       # batch 1, a single cell
]


def case_id(case):
    shape, k, s, p, ceil = case
    return f"{'x'.join(map(str, shape))}-k{k}-s{s}-p{p}-{'ceil' if ceil else 'floor'}"
