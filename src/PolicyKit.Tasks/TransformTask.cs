namespace PolicyKit.Tasks;

/// <summary>Sequence transformation: reverse <c>length</c> letters given in the prompt (answer ≥ 32 tokens).</summary>
public sealed class TransformTask(int length = 32) : IBenchmarkTask
{
    public string Name => "transform";
    public string Description => $"reverse a sequence of {length} letters";
    public int GenLength => length;
    public int BlockLength => 16;

    public TaskSample Sample(Random random)
    {
        var letters = new char[length];
        for (int i = 0; i < length; i++) letters[i] = (char)('A' + random.Next(26));
        var reversed = (char[])letters.Clone();
        Array.Reverse(reversed);
        return new TaskSample(Name, "REV:" + new string(letters) + "=", new string(reversed));
    }
}
