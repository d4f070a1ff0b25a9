namespace PolicyKit.Tasks;

/// <summary>
/// Multi-step arithmetic that writes every intermediate result (the long-reasoning, GSM8K-like regime where
/// response caching matters): a start value and <c>steps</c> operations <c>±d;</c>, then <c>=</c>; the answer is
/// each running value as two digits and a comma (3 tokens a step, 48 for 16 steps). Operations and results both
/// take 3 tokens, so step i's operation sits at a fixed distance from its result. A fixed few-shot preamble of
/// <c>shots</c> worked examples comes first.
/// </summary>
public sealed class ArithmeticTask(int steps = 16, int shots = 2) : IBenchmarkTask
{
    private readonly string _preamble = FewShot.Preamble(r => Question(r, steps), shots);

    public string Name => "arithmetic";
    public string Description => $"{steps} chained ±d operations on a value in 0..99, answer every running value ({shots}-shot)";
    public int GenLength => steps * 3;
    public int BlockLength => 16;

    public TaskSample Sample(Random random) => FewShot.After(_preamble, Question(random, steps));

    public IBenchmarkTask TrainingVariant(Random random) => new ArithmeticTask(steps, FewShot.TrainingShots(random, shots));

    private static TaskSample Question(Random random, int steps)
    {
        int value = random.Next(10, 90);
        var prompt = new System.Text.StringBuilder().Append(value.ToString("D2"));
        var answer = new System.Text.StringBuilder();
        for (int i = 0; i < steps; i++)
        {
            int d = random.Next(1, 10);
            // Keep every running value in 0..99 so each result is exactly two digits.
            bool add = value + d > 99 ? false : value - d < 0 || random.Next(2) == 0;
            value += add ? d : -d;
            prompt.Append(add ? '+' : '-').Append(d).Append(';');
            answer.Append(value.ToString("D2")).Append(',');
        }
        prompt.Append('=');
        return new TaskSample("arithmetic", prompt.ToString(), answer.ToString());
    }
}
