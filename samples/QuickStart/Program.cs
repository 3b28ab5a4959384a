Console.WriteLine("QuickStart: not yet implemented.");
return 0;
