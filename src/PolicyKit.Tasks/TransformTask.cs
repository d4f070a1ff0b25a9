namespace PolicyKit.Tasks;

/// <summary>
/// Sequence transformation: reverse <c>items</c> labelled letters. The prompt lists <c>aX bQ cR ...</c> (label a
/// lower-case letter in order, value an upper-case letter; written without spaces) and <c>=</c>; the answer is the
/// same label-value pairs in reverse order (2 tokens an item, 32 for 16). Labels make each item findable by
/// content, as position ids alone do not say "the mirror position". A fixed few-shot preamble comes first.
/// </summary>
public sealed class TransformTask(int items = 16, int shots = 3) : IBenchmarkTask
{
    private readonly string _preamble = FewShot.Preamble(r => Question(r, items), shots);

    public string Name => "transform";
    public string Description => $"reverse a sequence of {items} labelled letters ({shots}-shot)";
    public int GenLength => items * 2;
    public int BlockLength => 16;

    public TaskSample Sample(Random random) => FewShot.After(_preamble, Question(random, items));

    public IBenchmarkTask TrainingVariant(Random random) => new TransformTask(items, FewShot.TrainingShots(random, shots));

    private static TaskSample Question(Random random, int items)
    {
        if (items > 26) throw new ArgumentOutOfRangeException(nameof(items), "at most 26 labels (a-z)");
        var pairs = Enumerable.Range(0, items).Select(i => $"{(char)('a' + i)}{(char)('A' + random.Next(26))}").ToArray();
        return new TaskSample("transform", string.Concat(pairs) + "=", string.Concat(pairs.Reverse()));
    }
}
