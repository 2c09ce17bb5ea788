def batch_norm(input, running_mean, running_var, weight=None, bias=None,
               training=False, momentum=0.1, eps=1e-5):
    """Batch normalization over every axis of ``input`` except axis 1 (channels)."""
    C = input.shape[1]
    # (N, C, *) -> (C, N * prod(*)): one row per channel
    rows = input.transpose(0, 1).reshape(C, -1)
    if training:
        m = rows.shape[1]
        if m < 2:
            raise ValueError(f"Expected more than 1 value per channel when training, got {m}")
        centre = rows.mean(1)
        spread = rows.var(1, correction=0)
        if running_mean is not None:
            with torch.no_grad():
                running_mean *= 1 - momentum
                running_mean += momentum * centre
        if running_var is not None:
            with torch.no_grad():
                running_var *= 1 - momentum
                running_var += momentum * rows.var(1, correction=1)
    else:
        centre, spread = running_mean, running_var
    z = (rows - centre[:, None]) / (spread[:, None] + eps).sqrt()
    if weight is not None:
        z = weight[:, None] * z
    if bias is not None:
        z = z + bias[:, None]
    rest = [input.shape[0]] + list(input.shape[2:])
    return z.reshape([C] + rest).transpose(0, 1)
