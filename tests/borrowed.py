"""Borrowed work: the full solution of an assignment with one function handed to code the student did not write.

``BORROWED``: case -> (assignment, {answer cell's grade_id: its new source}, the
student's functions so borrowed). The course's own implementations imported
directly or by a name built from pieces, scikit-learn's ``MinMaxScaler``, and
PyTorch's decomposition reached by a computed name; the other answer cells keep
the solution.
"""

BORROWED = {
    "group_norm from the package": ("normalization_layers", {
        "group_norm": "from autograder.normalization_layers import _group_norm as group_norm\n"}, ["group_norm"]),
    "layer_norm from the package": ("normalization_layers", {
        "layer_norm": "from autograder.normalization_layers import _layer_norm as layer_norm\n"}, ["layer_norm"]),
    "attention from the package": ("attention", {
        "scaled_dot_product_attention":
            "from autograder.attention import _attention as scaled_dot_product_attention\n"},
        ["scaled_dot_product_attention"]),
    "positional encoding from the package": ("transformer", {
        "sinusoidal_positional_encoding":
            "from autograder.transformer import _positional_encoding as sinusoidal_positional_encoding\n"},
        ["sinusoidal_positional_encoding"]),
    "scikit-learn's MinMaxScaler": ("feature_scaling", {
        "fit_min_max": "from sklearn.preprocessing import MinMaxScaler\n\n"
                       "def fit_min_max(X):\n    scaler = MinMaxScaler().fit(X)\n"
                       "    return scaler.data_min_, scaler.data_max_\n",
        "min_max_transform": "def min_max_transform(X, data_min, data_max):\n    scaler = MinMaxScaler()\n"
                             "    scaler.fit(np.stack([data_min, data_max]))\n    return scaler.transform(X)\n"},
        ["fit_min_max", "min_max_transform"]),
    "importlib with a name built from pieces": ("batch_norm", {
        "batch_norm": "import importlib\n\n_module = importlib.import_module('autograder.' + 'batch' + '_norm')\n"
                      "batch_norm = getattr(_module, '_batch' + '_norm')\n"}, ["batch_norm"]),
    "PyTorch's decomposition by a computed name": ("batch_norm", {
        "batch_norm": "def batch_norm(input, running_mean, running_var, weight=None, bias=None, training=False,\n"
                      "               momentum=0.1, eps=1e-5):\n"
                      "    table = getattr(torch, '_de' + 'comp').decomposition_table\n"
                      "    kernel = getattr(torch.ops.aten, 'native_' + 'batch_norm').default\n"
                      "    return table[kernel](input, weight, bias, running_mean, running_var, training,\n"
                      "                         momentum, eps)[0]\n"}, ["batch_norm"]),
}
