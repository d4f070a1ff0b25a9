namespace PolicyKit;

/// <summary>
/// The decode state of a response row at a step, as flags so that a rule can name several. The engine derives it
/// from the tokens it is given: a row is <see cref="Masked"/> while its token is the mask token,
/// <see cref="JustDecoded"/> at the first step after the sampler committed it, and <see cref="Settled"/> after that.
/// Prompt rows have no decode state.
/// </summary>
[Flags]
public enum RowStates : byte
{
    None = 0,
    /// <summary>Still the mask token.</summary>
    Masked = 1,
    /// <summary>Committed by the sampler after the previous forward (masked then, decoded now).</summary>
    JustDecoded = 2,
    /// <summary>Committed before the previous forward.</summary>
    Settled = 4,
}
