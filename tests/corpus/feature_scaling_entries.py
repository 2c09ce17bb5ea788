"""Corpus: scalers as course and library code writes them, wrong and right."""

from corpus.harness import Entry

ENTRIES = [
    Entry(
        name="fit_min_max_whole_array_broadcast",
        assignment="feature_scaling",
        function="fit_min_max",
        style="NumPy function",
        source='''
def fit_min_max(X):
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2 or 0 in X.shape:
        raise ValueError(f"X must be 2-D (n_samples, n_features) and not empty, got shape {X.shape}")
    low, high = X.min(), X.max()              # no axis: the whole array
    return np.full(X.shape[1], low), np.full(X.shape[1], high - low)
''',
        mistakes=("wrong_axes",),
    ),
    Entry(
        name="min_max_transform_range_plus_epsilon",
        assignment="feature_scaling",
        function="min_max_transform",
        style="NumPy function",
        source='''
def min_max_transform(X, data_min, data_range):
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2 or 0 in X.shape:
        raise ValueError(f"X must be 2-D (n_samples, n_features) and not empty, got shape {X.shape}")
    return (X - data_min) / (data_range + 1e-7)
''',
        mistakes=("feature_scaling.range_plus_epsilon",),
    ),
    Entry(
        name="fit_standard_keeps_float32",
        assignment="feature_scaling",
        function="fit_standard",
        style="scikit-learn-like dtype handling",
        source='''
def fit_standard(X):
    X = np.asarray(X)
    if X.ndim != 2 or X.size == 0:
        raise ValueError("X must be a non-empty 2-D array")
    if X.dtype.kind != "f":
        X = X.astype(np.float64)                # float32 stays float32, as in scikit-learn
    mean = X.mean(axis=0)
    scale = np.sqrt(((X - mean) ** 2).mean(axis=0))
    scale[scale == 0] = 1
    return mean, scale
''',
        mistakes=("feature_scaling.float32_kept",),
    ),
    Entry(
        name="fit_standard_sample_std_over_whole_array",
        assignment="feature_scaling",
        function="fit_standard",
        style="two mistakes at once",
        source='''
def fit_standard(X):
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2 or 0 in X.shape:
        raise ValueError(f"X must be 2-D (n_samples, n_features) and not empty, got shape {X.shape}")
    mean, std = X.mean(), X.std(ddof=1)
    std = std if std > 0 else 1.0
    return np.full(X.shape[1], mean), np.full(X.shape[1], std)
''',
        mistakes=("wrong_axes", "unbiased_variance"),
    ),
    Entry(
        name="fit_min_max_ptp",
        assignment="feature_scaling",
        function="fit_min_max",
        style="NumPy function",
        source='''
def fit_min_max(X):
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2 or 0 in X.shape:
        raise ValueError(f"X must be 2-D (n_samples, n_features) and not empty, got shape {X.shape}")
    return X.min(axis=0), np.ptp(X, axis=0)
''',
        mistakes=(),
    ),
]
