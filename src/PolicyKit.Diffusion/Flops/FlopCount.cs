namespace PolicyKit.Diffusion.Flops;

/// <summary>
/// Executed and full-forward floating-point operations of a generation (2 per multiply-add).
/// "Full" is what the uncached model would have done for the same forwards with the same logits rows, so
/// <see cref="Reduction"/> isolates what caching saved.
/// </summary>
public readonly record struct FlopCount(double Executed, double Full)
{
    public static FlopCount operator +(FlopCount a, FlopCount b) => new(a.Executed + b.Executed, a.Full + b.Full);

    /// <summary>Full over executed: 1 for the uncached model, larger when a cache saved work.</summary>
    public double Reduction => Executed > 0 ? Full / Executed : 1.0;
}
