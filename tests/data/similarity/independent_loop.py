def batch_norm(input, running_mean, running_var, weight=None, bias=None,
               training=False, momentum=0.1, eps=1e-5):
    """Batch normalization over every axis of ``input`` except axis 1 (channels)."""
    channels = []
    for c in range(input.shape[1]):
        values = input[:, c]
        if training:
            if values.numel() < 2:
                raise ValueError("batch_norm: one value per channel in training mode")
            avg = values.mean()
            sq = ((values - avg) ** 2).mean()
            if running_mean is not None:
                running_mean[c] = (1 - momentum) * running_mean[c] + momentum * avg.item()
            if running_var is not None:
                count = values.numel()
                running_var[c] = (1 - momentum) * running_var[c] + momentum * sq.item() * count / (count - 1)
        else:
            avg, sq = running_mean[c], running_var[c]
        result = (values - avg) / (sq + eps) ** 0.5
        if weight is not None:
            result = result * weight[c]
        if bias is not None:
            result = result + bias[c]
        channels.append(result)
    return torch.stack(channels, dim=1)
