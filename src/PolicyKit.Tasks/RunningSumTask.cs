namespace PolicyKit.Tasks;

/// <summary>
/// Long answer with dependencies across it (the long-reasoning regime where response caching matters): <c>length</c>
/// random digits, then <c>=</c>; the answer is every running sum of the digits mod 10 (answer digit i is
/// <c>(answer digit i-1 + prompt digit i) mod 10</c>), so one wrong token makes every later one wrong. 32 digits make
/// a 32-token answer. The prompt digit each answer token adds sits at a fixed distance from it.
/// A fixed few-shot preamble of <c>shots</c> worked examples comes first, as in GSM8K-style evaluations (dLLM-Cache's
/// GSM8K runs): the prompt is then long next to the answer too (2 shots: 165 tokens), where a prompt cache pays.
/// The gen length leaves room for end-of-sequence tokens after the answer, as every task's does, so a model learns
/// to end its answers.
/// </summary>
public sealed class RunningSumTask : IBenchmarkTask
{
    private readonly int _length;
    private readonly int _shots;
    private readonly string _preamble;

    public RunningSumTask(int length = 32, int shots = 2)
    {
        if (length < 1) throw new ArgumentOutOfRangeException(nameof(length), "at least 1 digit");
        if (shots < 0) throw new ArgumentOutOfRangeException(nameof(shots), "at least 0 shots");
        _length = length;
        _shots = shots;
        _preamble = FewShot.Preamble(r => Question(r, length), shots);
    }

    public string Name => "running-sum";
    public string Description => $"{_length} digits, answer every running sum mod 10 ({_length} answer tokens, {_shots}-shot)";
    /// <summary>The smallest multiple of <see cref="BlockLength"/> longer than the answer (32 digits: 40).</summary>
    public int GenLength => (_length / BlockLength + 1) * BlockLength;
    public int BlockLength => 8;

    public TaskSample Sample(Random random) => FewShot.After(_preamble, Question(random, _length));

    public IBenchmarkTask TrainingVariant(Random random) => new RunningSumTask(_length, FewShot.TrainingShots(random, _shots));

    private static TaskSample Question(Random random, int length)
    {
        var digits = Enumerable.Range(0, length).Select(_ => random.Next(10)).ToArray();
        var sums = new char[length];
        for (int i = 0, sum = 0; i < length; i++) sums[i] = (char)('0' + (sum = (sum + digits[i]) % 10));
        return new TaskSample("running-sum", string.Concat(digits) + "=", new string(sums));
    }
}
