namespace PolicyKit;

/// <summary>
/// The four parts of a sequence that a plan decides about separately. The response is split by the
/// sampler's block structure: tokens left of the active block, the active block, tokens right of it.
/// Samplers without blocks (Dream) report the whole response as the active block.
/// </summary>
public enum Segment : byte
{
    Prompt = 0,
    ResponsePrefix = 1,
    ActiveBlock = 2,
    ResponseSuffix = 3,
}

/// <summary>Flags form of <see cref="Segment"/>, for rules that name several segments at once.</summary>
[Flags]
public enum Segments : byte
{
    None = 0,
    Prompt = 1 << Segment.Prompt,
    ResponsePrefix = 1 << Segment.ResponsePrefix,
    ActiveBlock = 1 << Segment.ActiveBlock,
    ResponseSuffix = 1 << Segment.ResponseSuffix,
    Response = ResponsePrefix | ActiveBlock | ResponseSuffix,
    All = Prompt | Response,
}
