namespace PolicyKit.Tasks;

/// <summary>
/// Long prompt, short answer (the LongBench-HotpotQA regime where prompt caching pays): <c>records</c>
/// <c>K=VVV;</c> records with distinct one-letter keys (A-Z, a-z), then <c>?K=</c>; the answer is that key's
/// three-digit value. 43 records make a 261-token prompt.
/// </summary>
public sealed class RetrievalTask : IBenchmarkTask
{
    private const string Keys = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    private const int MinTrainingRecords = 8;
    private readonly int _records;

    public RetrievalTask(int records = 43)
    {
        if (records < 1 || records > Keys.Length) throw new ArgumentOutOfRangeException(nameof(records), $"1..{Keys.Length}");
        _records = records;
    }

    public string Name => "retrieval";
    public string Description => $"{_records} K=VVV records ({_records * 6 + 3} prompt tokens), answer the value of one key";
    public int GenLength => 16;
    public int BlockLength => 16;

    public TaskSample Sample(Random random)
    {
        var keys = Keys.ToCharArray();
        random.Shuffle(keys);
        var pairs = keys[.._records].Select(k => (Key: k, Value: random.Next(0, 1000).ToString("D3"))).ToArray();
        var asked = pairs[random.Next(pairs.Length)];
        var prompt = string.Concat(pairs.Select(p => $"{p.Key}={p.Value};")) + $"?{asked.Key}=";
        return new TaskSample(Name, prompt, asked.Value);
    }

    public IBenchmarkTask TrainingVariant(Random random) =>
        new RetrievalTask(random.Next(Math.Min(MinTrainingRecords, _records), _records + 1));
}
