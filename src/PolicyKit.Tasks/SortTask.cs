namespace PolicyKit.Tasks;

/// <summary>
/// Between the two regimes (a prompt of about 128 tokens, an answer of 16): <c>count</c> distinct upper-case letters
/// scattered at random places in a stream of <c>digits</c> random digits, then <c>=</c>; the answer is the letters in
/// alphabetical order. Each answer letter is the smallest letter of the prompt above the one before it: it depends on
/// every letter of the prompt wherever it sits and on the previous answer token. 15 letters and 112 digits make a
/// 128-token prompt and a 15-letter answer, which leaves its 16-token gen length room for an end token.
/// </summary>
public sealed class SortTask : IBenchmarkTask
{
    private readonly int _count;
    private readonly int _digits;

    public SortTask(int count = 15, int digits = 112)
    {
        if (count < 1 || count > 26) throw new ArgumentOutOfRangeException(nameof(count), "1..26 letters");
        if (digits < 0) throw new ArgumentOutOfRangeException(nameof(digits), "at least 0 digits");
        (_count, _digits) = (count, digits);
    }

    public string Name => "sort";
    public string Description => $"{_count} distinct letters among {_digits} digits ({_count + _digits + 1} prompt tokens), answer them sorted";
    public int GenLength => 16;
    public int BlockLength => 16;

    public TaskSample Sample(Random random)
    {
        var alphabet = Enumerable.Range(0, 26).Select(i => (char)('A' + i)).ToArray();
        random.Shuffle(alphabet);
        var letters = alphabet[.._count];
        // Where the letters go: _count distinct slots among the _count + _digits positions.
        var slots = Enumerable.Range(0, _count + _digits).ToArray();
        random.Shuffle(slots);
        var isLetter = new bool[slots.Length];
        foreach (var s in slots[.._count]) isLetter[s] = true;
        var prompt = new char[slots.Length];
        int next = 0;
        for (int i = 0; i < prompt.Length; i++) prompt[i] = isLetter[i] ? letters[next++] : (char)('0' + random.Next(10));
        return new TaskSample(Name, new string(prompt) + "=", new string(letters.Order().ToArray()));
    }

    /// <summary>Training mixes fewer digits (down to none): cheaper steps, the same letters to sort.</summary>
    public IBenchmarkTask TrainingVariant(Random random) => new SortTask(_count, random.Next(0, _digits + 1));
}
