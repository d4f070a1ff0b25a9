using PolicyKit.Diffusion.Sampling;

namespace PolicyKit.Diffusion.Caching;

/// <summary>The column range of each <see cref="Segment"/> at one step: [Start, End).</summary>
internal readonly record struct ColumnRange(int Start, int End)
{
    public int Length => End - Start;
}

/// <summary>Where the four segments lie in the sequence at a step (the same for every row: prompts are left-padded).</summary>
internal readonly struct SegmentLayout
{
    private readonly ColumnRange _prompt, _prefix, _block, _suffix;

    public SegmentLayout(in DenoiseStep step)
    {
        int p = step.PromptLength, blockStart = p + step.ActiveBlockStart, blockEnd = blockStart + step.ActiveBlockLength;
        _prompt = new(0, p);
        _prefix = new(p, blockStart);
        _block = new(blockStart, blockEnd);
        _suffix = new(blockEnd, step.SequenceLength);
    }

    public ColumnRange this[Segment segment] => segment switch
    {
        Segment.Prompt => _prompt,
        Segment.ResponsePrefix => _prefix,
        Segment.ActiveBlock => _block,
        _ => _suffix,
    };

    public static readonly Segment[] All = [Segment.Prompt, Segment.ResponsePrefix, Segment.ActiveBlock, Segment.ResponseSuffix];
}
