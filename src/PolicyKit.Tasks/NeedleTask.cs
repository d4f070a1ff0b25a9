namespace PolicyKit.Tasks;

/// <summary>
/// Long prompt, short answer (the regime where prompt caching pays most): a stream of <c>letters</c> random
/// upper-case letters with one run of <see cref="NeedleLength"/> digits inserted at a uniformly random place, then
/// <c>=</c>; the answer is those digits. The digits are the only ones in the prompt, so the model finds them by
/// what they are (one attention hop) rather than by comparing a key, and the answer depends on content anywhere in
/// the prompt: a cache that kept stale prompt rows would lose it. 280 letters make a 285-token prompt. The answer is
/// generated in 32 tokens, one block (end tokens after the digits), as dLLM-Cache's LongBench-HotpotQA setting (gen 32):
/// enough steps for a prompt cache to pay, and for threshold decoding to show what it saves.
/// </summary>
public sealed class NeedleTask : IBenchmarkTask
{
    public const int NeedleLength = 4;
    private const int MinTrainingLetters = 16;
    private readonly int _letters;

    public NeedleTask(int letters = 280)
    {
        if (letters < 0) throw new ArgumentOutOfRangeException(nameof(letters), "at least 0 letters");
        _letters = letters;
    }

    public string Name => "needle";
    public string Description => $"{_letters} random letters with {NeedleLength} digits hidden among them ({_letters + NeedleLength + 1} prompt tokens), answer the digits";
    public int GenLength => 32;
    public int BlockLength => 32;

    public TaskSample Sample(Random random)
    {
        var stream = new char[_letters];
        for (int i = 0; i < stream.Length; i++) stream[i] = (char)('A' + random.Next(26));
        var needle = string.Concat(Enumerable.Range(0, NeedleLength).Select(_ => (char)('0' + random.Next(10))));
        int at = random.Next(_letters + 1);
        return new TaskSample(Name, new string(stream, 0, at) + needle + new string(stream, at, _letters - at) + "=", needle);
    }

    /// <summary>Training mixes shorter streams (down to 16 letters): cheaper steps, the same lookup.</summary>
    public IBenchmarkTask TrainingVariant(Random random) => new NeedleTask(random.Next(Math.Min(MinTrainingLetters, _letters), _letters + 1));
}
