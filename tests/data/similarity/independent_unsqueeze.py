def batch_norm(input, running_mean, running_var, weight=None, bias=None,
               training=False, momentum=0.1, eps=1e-5):
    """Batch normalization over every axis of ``input`` except axis 1 (channels)."""
    def expand(vector):
        for _ in range(input.dim() - 2):
            vector = vector.unsqueeze(-1)
        return vector.unsqueeze(0)

    reduced_axes = list(range(input.dim()))
    reduced_axes.remove(1)
    if training:
        samples = 1
        for axis in reduced_axes:
            samples *= input.shape[axis]
        if samples == 1:
            raise ValueError("Expected more than 1 value per channel when training")
        batch_mean = torch.mean(input, dim=reduced_axes)
        batch_var = torch.mean(torch.square(input - expand(batch_mean)), dim=reduced_axes)
        with torch.no_grad():
            if running_mean is not None:
                running_mean.sub_(momentum * (running_mean - batch_mean))
            if running_var is not None:
                running_var.sub_(momentum * (running_var - batch_var * samples / (samples - 1)))
        mean, variance = batch_mean, batch_var
    else:
        mean, variance = running_mean, running_var
    output = torch.div(input - expand(mean), torch.sqrt(expand(variance) + eps))
    if weight is not None:
        output = torch.mul(output, expand(weight))
    if bias is not None:
        output = torch.add(output, expand(bias))
    return output
